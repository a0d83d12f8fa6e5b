// Software prefetch of a byte span, by cache line, wherever it starts: rows are not always on a
// cache line (a stride that is not a multiple of 64 bytes, mapped files, a prefix that starts
// inside a row), and counting lines from the length alone leaves the span's last line to a
// demand miss. Internal linkage: units compiled for different ISAs each keep their own copy.
//
// On x86 the prefetch is an asm volatile statement: GCC 12 deletes loops of __builtin_prefetch
// in some contexts (this helper written with it left no prefetch at all in the float scan
// kernels, the graph gathers and walk, and the IVF rerank); a volatile asm cannot be removed.
// Check with `objdump -d` on the unit's object after changing a kernel.
#pragma once
#include <cstddef>
#include <cstdint>

namespace adanns {
namespace {

// Every line that bytes [p + skip, p + n) touch, from the line after the one holding p when
// skip_first (the caller has fetched it).
[[maybe_unused]] inline void prefetch_span(const void* p, std::size_t n, bool skip_first = false) {
    if (n == 0) return;
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    const uintptr_t end = a + n;
    for (uintptr_t line = (a & ~uintptr_t(63)) + (skip_first ? 64 : 0); line < end; line += 64) {
#if defined(__x86_64__) || defined(__i386__)
        asm volatile("prefetcht0 %0" : : "m"(*reinterpret_cast<const char*>(line)));
#else
        __builtin_prefetch(reinterpret_cast<const void*>(line), 0, 3);
#endif
    }
}

}  // namespace
}  // namespace adanns
