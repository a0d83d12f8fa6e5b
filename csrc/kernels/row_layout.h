// Where the dims of a list's float rows lie. The dims are cut into groups of kDimGroup = 32
// (group g = dims [32g, 32g + 32)) up to the tail group T = last_group, which holds all the
// dims from 32T to the end of the row. Dim d of row r lies at
//     base + g * group_stride + r * stride_g + (d - 32g),   g = min(d / 32, T),
// stride_g = last_stride for g == T, row_stride otherwise. The layouts this covers:
//   * row-major (a mapped index file, the rerank store, the test hooks' rows): T = 0, the whole
//     row is the tail, last_stride = the row stride;
//   * prefix groups (the lists in RAM, storage/invlists.h): a list with room for cap rows holds
//     dims [32g, 32g + 32) of all its rows together for g < T (group_stride 32 * cap, row_stride
//     32), and the tail dims [32T, dim) row-major after them (last_stride dim - 32T). A scan of a
//     prefix of s <= 32T dims then reads s / 32 contiguous runs (only the bytes it uses, where a
//     row-major list gives a strided stream of short pieces), and a rerank of dims from 32T on
//     reads one contiguous piece of each row.
// An 8-dim step that starts at a multiple of 8 never crosses a group.
//
// Included by the AVX2 translation units: C-compatible headers only, no STL.
#pragma once
#include <cstddef>

namespace adanns {

constexpr std::size_t kDimGroup = 32;

struct RowLayout {
    std::size_t group_stride;  // floats from a row's group g to its group g + 1
    std::size_t row_stride;    // floats from row r to row r + 1 within a group before the tail
    std::size_t last_group;    // T: the tail group, dims [32T, end of row)
    std::size_t last_stride;   // floats from row r to row r + 1 within the tail
    std::size_t group(std::size_t d) const {
        const std::size_t g = d / kDimGroup;
        return g < last_group ? g : last_group;
    }
    std::size_t stride(std::size_t g) const { return g == last_group ? last_stride : row_stride; }
    // Dims from d on that lie contiguously in a row (to the end of d's group; the tail: any).
    std::size_t run(std::size_t d) const {
        return d < last_group * kDimGroup ? kDimGroup - d % kDimGroup : ~std::size_t(0) / 2;
    }
    // Dim d of row r of the rows at base.
    const float* at(const float* base, std::size_t r, std::size_t d) const {
        const std::size_t g = group(d);
        return base + g * group_stride + r * stride(g) + (d - g * kDimGroup);
    }
    float* at(float* base, std::size_t r, std::size_t d) const {
        const std::size_t g = group(d);
        return base + g * group_stride + r * stride(g) + (d - g * kDimGroup);
    }
};

// One row of some rows: the row source of a rerank (rows in layout at base, row number row).
struct RowRef {
    const float* base;
    std::size_t row;
    RowLayout layout;
};

// Rows one after the other, `stride` floats apart.
inline RowLayout row_major_layout(std::size_t stride) { return RowLayout{0, 0, 0, stride}; }

// Rows of `dim` floats with room for `cap` rows: the dims before `prefix` (rounded down to
// whole groups, and to fewer than dim) in groups, the rest row-major after them.
inline RowLayout prefix_group_layout(std::size_t dim, std::size_t cap, std::size_t prefix) {
    std::size_t t = prefix / kDimGroup;
    if (t * kDimGroup >= dim) t = dim == 0 ? 0 : (dim - 1) / kDimGroup;
    return RowLayout{kDimGroup * cap, kDimGroup, t, dim - t * kDimGroup};
}

// f(p, n) for each contiguous piece of dims [d0, d1) of row r: n floats at p, in dim order.
template <class F>
inline void for_each_piece(const float* base, std::size_t r, const RowLayout& L, std::size_t d0, std::size_t d1,
                           F&& f) {
    while (d0 < d1) {
        const std::size_t run = L.run(d0);
        const std::size_t n = run < d1 - d0 ? run : d1 - d0;
        f(L.at(base, r, d0), n);
        d0 += n;
    }
}

// Prefetch of one cache line into all levels. On x86 as an asm statement: GCC 12 at -O2 deleted
// __builtin_prefetch calls in the loops below as code without effect.
inline void prefetch_line(const char* p) {
#if defined(__x86_64__) || defined(__i386__)
    asm volatile("prefetcht0 %0" : : "m"(*p));
#else
    __builtin_prefetch(p);
#endif
}

// Software prefetch of the cache lines of n floats at p.
inline void prefetch_floats(const float* p, std::size_t n) {
    const std::size_t a = reinterpret_cast<std::size_t>(p) & ~std::size_t(63);
    const std::size_t lines = (reinterpret_cast<std::size_t>(p + n) - a + 63) / 64;
    const char* c = reinterpret_cast<const char*>(a);
    for (std::size_t o = 0; o < lines; ++o) prefetch_line(c + 64 * o);
}

// Software prefetch of dims [0, w) of rows [b, e) (a scan's next rows): one run per group (the
// rows of a group lie together), and the tail's part row by row, or as one run where it is
// the whole tail.
inline void prefetch_prefix(const float* base, std::size_t b, std::size_t e, const RowLayout& L, std::size_t w) {
    if (b >= e) return;
    const std::size_t gw = L.last_group * kDimGroup;  // dims in groups
    const std::size_t ng = w < gw ? (w + kDimGroup - 1) / kDimGroup : L.last_group;
    for (std::size_t g = 0; g < ng; ++g) {
        const std::size_t n = w - g * kDimGroup < kDimGroup ? w - g * kDimGroup : kDimGroup;
        prefetch_floats(L.at(base, b, g * kDimGroup), (e - b - 1) * L.row_stride + n);
    }
    if (w <= gw) return;
    if (w - gw == L.last_stride) {
        prefetch_floats(L.at(base, b, gw), (e - b) * L.last_stride);
        return;
    }
    for (std::size_t r = b; r < e; ++r) prefetch_floats(L.at(base, r, gw), w - gw);
}

// Software prefetch of the cache lines of dims [d0, d1) of row r. (A counted loop over the
// groups: GCC 12 deleted the prefetches of a while loop over the pieces, whose progress it could
// not prove.)
inline void prefetch_dims(const float* base, std::size_t r, const RowLayout& L, std::size_t d0, std::size_t d1) {
    if (d0 >= d1) return;
    const std::size_t g1 = L.group(d1 - 1);
    for (std::size_t g = L.group(d0); g <= g1; ++g) {
        const std::size_t lo = d0 > g * kDimGroup ? d0 : g * kDimGroup;
        const std::size_t hi = g == L.last_group || d1 < (g + 1) * kDimGroup ? d1 : (g + 1) * kDimGroup;
        prefetch_floats(L.at(base, r, lo), hi - lo);
    }
}

}  // namespace adanns
