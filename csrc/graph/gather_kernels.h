// Gather kernels for graph search: distances between one query and rows picked by index
// from a row-major float32 block (the neighbours of a graph node are scattered in memory,
// so the contiguous scan kernels of distances.h do not apply).
//
// Like distances.h: an AVX2/FMA implementation and a portable scalar one, chosen once at
// run time (the same choice as kernels(): AVX2 unless the CPU lacks it or ADANNS_SIMD=scalar).
// Included by the AVX2 translation unit: C-compatible headers only.
#pragma once
#include <cstddef>
#include <cstdint>

namespace adanns {

// out[i] = distance over the first w floats of q and of row idx[i], which starts at
// base + idx[i] * stride (stride >= w): squared L2 for kScanL2, the inner product for
// kScanIP and kScanIPNorm; for kScanIPNorm also out_norm[i] = ||row[:w]||^2.
// The results are written (not accumulated). Reads exactly w floats of each row.
using GatherFn = void (*)(int kind, const float* q, const float* base, std::size_t stride,
                          const uint32_t* idx, std::size_t n, std::size_t w, float* out,
                          float* out_norm);

// The implementation chosen for this CPU.
GatherFn gather_kernel();

// The same over the graph's int8 walk rows (rows of `stride` bytes at base + idx[i] * stride):
// the first `wide` dims as 16-bit codes (2 bytes each, little-endian: the leading dims of a PCA /
// Matryoshka prefix carry the most energy, and 8-bit codes there cost most of the walk's ranking
// error), then one 8-bit code per dim. With codes c_j = round((x_j - lo_j) / step_j), over the
// first w dims (hw = min(wide, w) of them wide):
//   kSq8IP: out[i] = inv_scale * sum_{j >= hw} q16[j - hw] * c_j (summed exactly in 32-bit
//           integers; q16 = round(query * step * scale) of the 8-bit dims, make_sq8_ip_query)
//           + sum_{j < hw} qhi[j] * c_j (float; qhi = query * step): the inner product less a
//           per-query constant;
//   kSq8L2: out[i] = sum_j wgt[j] * (q[j] - c_j)^2 with q = (query - lo) / step, wgt = step^2
//           (q, wgt index every dim from 0): the squared L2 distance.
enum Sq8Kind : int { kSq8IP = 0, kSq8L2 = 1 };
struct Sq8Query {
    int kind;
    const float* q;       // kSq8L2
    const float* wgt;     // kSq8L2
    const int16_t* q16;   // kSq8IP: the 8-bit dims
    float inv_scale;      // kSq8IP
    std::size_t wide;     // leading 16-bit dims of a row
    const float* qhi;     // kSq8IP: the 16-bit dims
};
// The 16-bit dims' term of one row (the first hw <= wide dims): sum_j qhi[j] * c_j (kSq8IP) or
// sum_j wgt[j] * (q[j] - c_j)^2 (kSq8L2). static: every translation unit (the AVX2 one too) gets
// its own copy, compiled for its own instruction set.
static inline float sq8_wide_term(const Sq8Query& q, const uint8_t* row, std::size_t hw) {
    float s = 0.f;
    for (std::size_t j = 0; j < hw; ++j) {
        const float v = float(unsigned(row[2 * j]) | (unsigned(row[2 * j + 1]) << 8));
        if (q.kind == kSq8IP) {
            s += q.qhi[j] * v;
        } else {
            const float d = q.q[j] - v;
            s += q.wgt[j] * (d * d);
        }
    }
    return s;
}
// q16 and its 1 / scale for kSq8IP from qw[j] = query_j * step_j (j < w): the largest |q16| is
// chosen so that no 32-bit sum of w products with codes <= 255 can overflow.
float make_sq8_ip_query(const float* qw, std::size_t w, int16_t* q16);
using GatherSq8Fn = void (*)(const Sq8Query& q, const uint8_t* base, std::size_t stride, const uint32_t* idx,
                             std::size_t n, std::size_t w, float* out);
GatherSq8Fn gather_sq8_kernel();
void gather_sq8_scalar(const Sq8Query& q, const uint8_t* base, std::size_t stride, const uint32_t* idx,
                       std::size_t n, std::size_t w, float* out);

void gather_scalar(int kind, const float* q, const float* base, std::size_t stride, const uint32_t* idx,
                   std::size_t n, std::size_t w, float* out, float* out_norm);
#if defined(ADANNS_HAVE_AVX2_TU)
void gather_avx2(int kind, const float* q, const float* base, std::size_t stride, const uint32_t* idx,
                 std::size_t n, std::size_t w, float* out, float* out_norm);
void gather_sq8_avx2(const Sq8Query& q, const uint8_t* base, std::size_t stride, const uint32_t* idx,
                     std::size_t n, std::size_t w, float* out);
#endif

}  // namespace adanns
