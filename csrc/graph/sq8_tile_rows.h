// The row loop of the IVF int8 scan's tile kernels (gather_avx2.cpp, gather_vnni.cpp): blocks
// of four consecutive rows, the codes of the rows 8 ahead prefetched, the last block's missing
// rows pointing at its first. Internal linkage: each kernel unit compiles its own copy for its
// own instruction set. No STL (the AVX2 / AVX-512 units include it).
#pragma once
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

namespace adanns {
namespace {

// block(x, i, rows): rows i .. i + rows - 1 (rows <= 4) at x[0 .. rows - 1].
template <class Block>
inline void sq8_tile_rows(const uint8_t* base, size_t stride, size_t n, size_t row_bytes, Block block) {
    constexpr size_t kAhead = 8;
    auto prefetch = [&](size_t r) {
        const char* row = reinterpret_cast<const char*>(base + r * stride);
        for (size_t o = 0; o < row_bytes; o += 64) _mm_prefetch(row + o, _MM_HINT_T0);
    };
    for (size_t r = 0; r < n && r < kAhead; ++r) prefetch(r);
    const uint8_t* x[4];
    for (size_t i = 0; i < n; i += 4) {
        for (size_t r = i + kAhead; r < i + kAhead + 4 && r < n; ++r) prefetch(r);
        const size_t rows = n - i < 4 ? n - i : 4;
        for (size_t r = 0; r < 4; ++r) x[r] = base + (i + (r < rows ? r : 0)) * stride;
        block(x, i, rows);
    }
}

}  // namespace
}  // namespace adanns
