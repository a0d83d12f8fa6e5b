// Allocators for arrays of rows read by cache lines.
//
// CacheLineAllocator: blocks start on a cache line (64 bytes). With malloc's 16-byte alignment a
// row whose stride is a multiple of 64 bytes straddles one line more than it needs (a 32-dim
// float prefix 3 lines instead of 2, a 256-dim tail 17 instead of 16). Inverted lists.
//
// HugePageAllocator, for large arrays read at random (graph adjacency, walk rows, the PQ rerank
// store): blocks of 2 MiB or more are 2 MiB-aligned (rounded up to whole 2 MiB) and marked
// MADV_HUGEPAGE before their first touch, so that with the common transparent-huge-page setting
// "madvise" they are backed by huge pages and random reads miss the TLB far less often. Smaller
// blocks start on a cache line.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace adanns {

template <class T>
struct CacheLineAllocator {
    using value_type = T;

    CacheLineAllocator() noexcept = default;
    template <class U>
    CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        if (n > std::size_t(-1) / sizeof(T)) throw std::bad_alloc();
        void* p = nullptr;
        if (posix_memalign(&p, 64, n ? n * sizeof(T) : 1) != 0) throw std::bad_alloc();
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t) noexcept { std::free(p); }

    template <class U>
    bool operator==(const CacheLineAllocator<U>&) const noexcept { return true; }
    template <class U>
    bool operator!=(const CacheLineAllocator<U>&) const noexcept { return false; }
};

template <class T>
struct HugePageAllocator {
    using value_type = T;
    static constexpr std::size_t kHuge = std::size_t(2) << 20;

    HugePageAllocator() noexcept = default;
    template <class U>
    HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        if (n > std::size_t(-1) / sizeof(T)) throw std::bad_alloc();
        const std::size_t bytes = n * sizeof(T);
        void* p = nullptr;
        if (bytes >= kHuge) {
            const std::size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
            if (posix_memalign(&p, kHuge, rounded) != 0) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
            madvise(p, rounded, MADV_HUGEPAGE);  // a hint: failure leaves ordinary pages
#endif
        } else {
            if (posix_memalign(&p, 64, bytes ? bytes : 1) != 0) throw std::bad_alloc();
        }
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t) noexcept { std::free(p); }

    template <class U>
    bool operator==(const HugePageAllocator<U>&) const noexcept { return true; }
    template <class U>
    bool operator!=(const HugePageAllocator<U>&) const noexcept { return false; }
};

}  // namespace adanns
