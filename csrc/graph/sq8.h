// The per-dim affine 8-bit quantiser shared by the graph's int8 walk store and the IVF index's
// int8 scan store, and the query in its code space (the kernels are graph/gather_kernels.h).
//
// Codes of the first d dims of a row: c_t = round((x_t - lo_t) / step_t), clamped to 0..65535 for
// the first `wide` dims (two bytes each, little-endian: the leading dims of a PCA / Matryoshka
// prefix carry the most energy, and 8-bit codes there cost most of the ranking error) and to
// 0..255 for the others (one byte each). A row of codes is d + wide bytes.
#pragma once
#include <cstddef>
#include <cstdint>

#include "graph/gather_kernels.h"

namespace adanns {

// std::lrint (round half to even) of |x| < 2^51 without the libm call a unit compiled for the
// generic target makes per value (queries are rounded per search): adding and taking away
// 1.5 * 2^52 leaves x rounded to an integer in the default rounding mode.
inline double sq8_round_even(double x) {
    constexpr double kMagic = 6755399441055744.0;
    return (x + kMagic) - kMagic;
}

// Leading dims coded in 16 bits (at most this many; a shorter prefix codes all of its dims so).
constexpr std::size_t kSq8Wide = 8;

// Widens [lo, hi] (d each) to the values of the first d dims of n rows of x (row stride `stride`).
void sq8_range(const float* x, std::size_t n, std::size_t stride, std::size_t d, float* lo, float* hi);
// The steps of the ranges [lo, hi] (see sq8_fit); a dim without values (lo = +inf) gets lo 0.
void sq8_steps(float* lo, const float* hi, std::size_t d, std::size_t wide, float* step);

// lo, step (d each): [min, max] of each dim over n rows of x (row stride `stride`), split in
// 65535 steps for the first `wide` dims and 255 for the others (a zero span: step 1, every code 0).
void sq8_fit(const float* x, std::size_t n, std::size_t stride, std::size_t d, std::size_t wide, float* lo,
             float* step);

// The d + wide bytes of codes of one row x (finite values; out-of-range values are clamped).
void sq8_encode(const float* x, std::size_t d, std::size_t wide, const float* lo, const float* step, uint8_t* c);

// The query q (its first w dims) in code space, for the squared L2 distance (l2) or the inner
// product: qw (w floats), wg (w floats, L2 only) and q16 (w int16, IP only) are the caller's
// buffers the returned Sq8Query points into.
Sq8Query sq8_query(bool l2, const float* q, std::size_t w, std::size_t wide, const float* lo, const float* step,
                   float* qw, float* wg, int16_t* q16);

}  // namespace adanns
