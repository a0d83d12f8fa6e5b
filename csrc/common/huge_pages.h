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
// blocks get plain malloc memory.
//
// release_free_memory(): the allocator's free memory back to the system, after an index drops
// its vectors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace adanns {

template <class T>
struct CacheLineAllocator {
    using value_type = T;

    CacheLineAllocator() noexcept = default;
    template <class U>
    CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}

    // malloc with 64 bytes of slack, the block's start rounded up to a line and malloc's pointer
    // kept just before it: large blocks stay malloc's own (mmapped, given back to the system when
    // freed), which posix_memalign's did not (a list emptied by removals kept about half of its
    // memory in the process).
    T* allocate(std::size_t n) {
        if (n > (std::size_t(-1) - 64) / sizeof(T)) throw std::bad_alloc();
        void* raw = std::malloc(n * sizeof(T) + 64);
        if (!raw) throw std::bad_alloc();
        const uintptr_t a = (reinterpret_cast<uintptr_t>(raw) + 64) & ~uintptr_t(63);  // >= raw + 16
        reinterpret_cast<void**>(a)[-1] = raw;
        return reinterpret_cast<T*>(a);
    }
    void deallocate(T* p, std::size_t) noexcept {
        if (p) std::free(reinterpret_cast<void**>(p)[-1]);
    }

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
            p = std::malloc(bytes ? bytes : 1);
            if (!p) throw std::bad_alloc();
        }
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t) noexcept { std::free(p); }

    template <class U>
    bool operator==(const HugePageAllocator<U>&) const noexcept { return true; }
    template <class U>
    bool operator!=(const HugePageAllocator<U>&) const noexcept { return false; }
};

// Gives the allocator's free memory back to the system (glibc: malloc_trim; nothing elsewhere).
// Called after an index drops its vectors (reset, removals): their large arrays are not always
// their own mappings, freed straight back, since glibc raises its mmap threshold to the size of
// each mapped block it frees (lists grown by reallocation end up partly on the heap, where a free
// keeps the pages in the process).
inline void release_free_memory() {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

}  // namespace adanns
