// OpenMP helpers that never let an exception escape a parallel region
// (an escaping exception would terminate the Python process).
#pragma once
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>

#include "common/cancel.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace adanns {

// True in a child made by fork() (the bindings set it from os.register_at_fork): libgomp's thread
// pool does not survive fork() (a parallel region in the child waits for threads that are gone),
// so every parallel region of the child runs on its calling thread.
inline std::atomic<bool>& forked_child() {
    static std::atomic<bool> flag{false};
    return flag;
}

inline bool run_parallel() { return !forked_child().load(std::memory_order_relaxed); }

inline int max_threads() {
#ifdef _OPENMP
    return run_parallel() ? omp_get_max_threads() : 1;
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
// The first exception thrown by any chunk is rethrown on the calling thread. Every chunk starts
// with a cancel_point() of the calling thread's call (common/cancel.h): once it is interrupted,
// the remaining chunks end at once and Interrupted is rethrown.
template <class Fn>
void parallel_for_chunks(std::size_t n, std::size_t grain, Fn&& fn) {
    if (n == 0) return;
    if (grain == 0) grain = 1;
    const std::size_t nchunks = (n + grain - 1) / grain;
    std::exception_ptr err;
    std::mutex err_mu;
    CancelScope* const call = CancelScope::current();
    auto run_chunk = [&](std::size_t c) {
        try {
            const CancelJoin join(call);
            cancel_point();
            const std::size_t b = c * grain;
            const std::size_t e = b + grain < n ? b + grain : n;
            fn(b, e);
        } catch (...) {
            std::lock_guard<std::mutex> lock(err_mu);
            if (!err) err = std::current_exception();
        }
    };
    if (nchunks > 1 && run_parallel()) {
#pragma omp parallel for schedule(dynamic, 1)
        for (long long c = 0; c < static_cast<long long>(nchunks); ++c) run_chunk(static_cast<std::size_t>(c));
    } else {
        for (std::size_t c = 0; c < nchunks && !err; ++c) run_chunk(c);  // no OpenMP call at all
    }
    if (err) std::rethrow_exception(err);
}

}  // namespace adanns
