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
    const int8_t* q8 = nullptr;  // kSq8IP, the VNNI tile kernel only: the 8-bit dims in 8 bits
    float inv_scale8 = 1.f;      // (make_sq8_ip_query8)
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

// q8 and its 1 / scale from qw[j] = query_j * step_j (j < w): round(qw * 127 / max |qw|); the
// 8-bit query of the VNNI tile kernel (coarser than q16: the IVF int8 scan only ranks, and its
// rerank gives the exact values).
float make_sq8_ip_query8(const float* qw, std::size_t w, int8_t* q8);

// The tile form of kSq8IP for the IVF int8 scan: m queries (kSq8IP, the same wide) against n
// consecutive rows (row r at base + r * stride): out[i * ldo + r] = the inner product of query i
// and row r less the query's constant, as gather_sq8 defines it. The scalar and AVX2 kernels use
// q16 (their values equal gather_sq8's); the AVX-512 VNNI kernel uses q8 and inv_scale8 (the
// integer part summed by vpdpbusd, 64 codes per instruction). Reads in steps of 16 (VNNI: 64)
// codes: each query's q16 (q8) must hold a multiple of 16 (64) entries covering its
// w - min(wide, w) codes, zero past them, and every row must be readable for 64 bytes past its
// last code (pad the code array).
using ScanSq8Fn = void (*)(const Sq8Query* const* qs, std::size_t m, const uint8_t* base, std::size_t stride,
                           std::size_t n, std::size_t w, float* out, std::size_t ldo);
// The best for this CPU: VNNI where the CPU has AVX-512 F/BW/VNNI (and ADANNS_SIMD is not
// "avx2" or "scalar"), else AVX2 (as the other kernels), else scalar.
ScanSq8Fn scan_sq8_ip_kernel();
// One by name ("scalar", "avx2", "vnni"; the test hooks); throws where it cannot run.
ScanSq8Fn scan_sq8_ip_named(const char* name);
bool cpu_has_avx512_vnni();
void scan_sq8_ip_scalar(const Sq8Query* const* qs, std::size_t m, const uint8_t* base, std::size_t stride,
                        std::size_t n, std::size_t w, float* out, std::size_t ldo);

void gather_scalar(int kind, const float* q, const float* base, std::size_t stride, const uint32_t* idx,
                   std::size_t n, std::size_t w, float* out, float* out_norm);
#if defined(ADANNS_HAVE_AVX2_TU)
void gather_avx2(int kind, const float* q, const float* base, std::size_t stride, const uint32_t* idx,
                 std::size_t n, std::size_t w, float* out, float* out_norm);
void gather_sq8_avx2(const Sq8Query& q, const uint8_t* base, std::size_t stride, const uint32_t* idx,
                     std::size_t n, std::size_t w, float* out);
void scan_sq8_ip_avx2(const Sq8Query* const* qs, std::size_t m, const uint8_t* base, std::size_t stride,
                      std::size_t n, std::size_t w, float* out, std::size_t ldo);
#endif
#if defined(ADANNS_HAVE_VNNI_TU)
void scan_sq8_ip_vnni(const Sq8Query* const* qs, std::size_t m, const uint8_t* base, std::size_t stride,
                      std::size_t n, std::size_t w, float* out, std::size_t ldo);
#endif

}  // namespace adanns
