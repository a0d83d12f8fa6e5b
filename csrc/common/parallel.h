// OpenMP helpers that never let an exception escape a parallel region
// (an escaping exception would terminate the Python process).
#pragma once
#include <cstddef>
#include <exception>
#include <mutex>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace adanns {

inline int max_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

inline int thread_id() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Calls fn(begin, end) on chunks of [0, n) of about `grain` items, in parallel.
// The first exception thrown by any chunk is rethrown on the calling thread.
template <class Fn>
void parallel_for_chunks(std::size_t n, std::size_t grain, Fn&& fn) {
    if (n == 0) return;
    if (grain == 0) grain = 1;
    const std::size_t nchunks = (n + grain - 1) / grain;
    std::exception_ptr err;
    std::mutex err_mu;
#pragma omp parallel for schedule(dynamic, 1) if (nchunks > 1)
    for (long long c = 0; c < static_cast<long long>(nchunks); ++c) {
        try {
            const std::size_t b = static_cast<std::size_t>(c) * grain;
            const std::size_t e = b + grain < n ? b + grain : n;
            fn(b, e);
        } catch (...) {
            std::lock_guard<std::mutex> lock(err_mu);
            if (!err) err = std::current_exception();
        }
    }
    if (err) std::rethrow_exception(err);
}

}  // namespace adanns
