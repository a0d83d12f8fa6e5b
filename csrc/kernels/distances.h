// Distance kernels on prefixes of row-major float32 rows (the kernel table is kernels/kernels.h).
//
// The scan kernel scores a tile of list rows against the queries that probe the list (the
// list scan); the rerank kernel scores one row against the queries that want it. Every
// kernel has an AVX2/FMA implementation and a portable scalar one; the choice is made once
// at run time from the CPU's features (never at compile time).
//
// A second kernel family works in GEMM form for "many points x many centroids"
// (k-means assignment, coarse probing of query batches): the centroids are packed
// once into panels of kPanelWidth columns laid out [d][kPanelWidth], and a
// register-blocked micro-kernel accumulates a block of points against a whole panel
// with broadcasts and FMAs only (no horizontal sums). Each (point, centroid) inner
// product is one sequential chain over the d dims, so a point's result does not
// depend on how points are blocked, chunked or spread over threads.
//
// This header is included by the AVX2 translation unit: it must stay free of STL
// templates (C-compatible headers only).
#pragma once
#include <cstddef>
#include <cstdint>

namespace adanns {

// What a scan accumulates per row.
enum ScanKind : int {
    kScanL2 = 0,      // acc[i] += sum_j (q_j - x_ij)^2
    kScanIP = 1,      // acc[i] += sum_j q_j * x_ij
    kScanIPNorm = 2,  // acc[i] += sum_j q_j * x_ij ; acc_norm[i] += sum_j x_ij^2
};

// The tile form: m queries against n rows, row r at X + r * stride (stride >= w):
// out[i * ldo + r] = partial distance of `kind` between qs[i][:w] and row r[:w] (overwritten);
// for kScanIPNorm also xnorm[r] = |row r[:w]|^2 (xnorm may be null otherwise). Nothing is
// written when m == 0. Reads exactly the w floats of each row: no over-read past a row's end.
// Each (query, row) value is one sequential chain over the w dims, the same whatever m and n are
// and wherever the query and the row sit in the call, and the same as the rerank form's value.
// (Each kernel's function type, e.g. ScanKernel, declares its implementations below; its
// pointer type, e.g. ScanFn, is the kernel table's column.)
using ScanKernel = void(int kind, const float* const* qs, std::size_t m, const float* X, std::size_t n,
                        std::size_t stride, std::size_t w, float* out, std::size_t ldo, float* xnorm);
using ScanFn = ScanKernel*;

// The rerank form: one row x against m queries (a row wanted by several queries is read once):
// out[i] = partial distance of `kind` between qs[i][:w] and x[:w], for i < m; for kScanIPNorm
// also *xnorm = |x[:w]|^2 (xnorm may be null otherwise). Each query's value is one sequential
// chain over the w dims, the same whatever m is and wherever the query sits among the m.
using RerankKernel = void(int kind, const float* x, const float* const* qs, std::size_t m, std::size_t w,
                          float* out, float* xnorm);
using RerankFn = RerankKernel*;

// Centroid panels for the GEMM kernels: panel p (p < panel_count(k)) is d x kPanelWidth
// floats at packed + p * d * kPanelWidth, element [t][c] = centroid (p * kPanelWidth + c),
// dim t; zero for the padding columns past k. Size: packed_size(k, d) floats.
constexpr std::size_t kPanelWidth = 16;
inline std::size_t panel_count(std::size_t k) { return (k + kPanelWidth - 1) / kPanelWidth; }
inline std::size_t packed_size(std::size_t k, std::size_t d) { return panel_count(k) * kPanelWidth * d; }
// Packs the first d floats of k rows of C (row stride ldc >= d). Portable.
void pack_panels(const float* C, std::size_t k, std::size_t d, std::size_t ldc, float* packed);

// GEMM form, full output: for i < n, j < k
//   out[i * ldo + j] = bias[j] + alpha * <x_i[:d], c_j[:d]>
// where row i of X starts at X + i * ldx (reads exactly d floats per row) and bias may be
// null (zeros). With alpha = -2 and bias = ||c||^2 this is the L2 distance less ||x||^2;
// with alpha = -1 and no bias it is the negated inner product.
using GemmKernel = void(const float* X, std::size_t n, std::size_t ldx, const float* packed,
                        std::size_t k, std::size_t d, const float* bias, float alpha, float* out,
                        std::size_t ldo);
using GemmFn = GemmKernel*;
// GEMM form, fused argmin: best[i] = the smallest j < k minimising
// bias[j] + alpha * <x_i, c_j> (0 when no value is below +inf, e.g. all NaN);
// best_dist[i] (when not null) = that minimum (+inf when none).
using GemmArgminKernel = void(const float* X, std::size_t n, std::size_t ldx, const float* packed,
                              std::size_t k, std::size_t d, const float* bias, float alpha,
                              int64_t* best, float* best_dist);
using GemmArgminFn = GemmArgminKernel*;

// Selection, the threshold test of every shortlist push (common/topk.h: the list scans, the coarse
// probe's top-nprobe): writes the indices r < n with d[r] <= thr, ascending, to out and returns
// their count. A NaN is never selected. out must have room for n + kSelectSlack entries: the SIMD
// forms store whole vectors of indices past the count.
constexpr std::size_t kSelectSlack = 16;
using SelectKernel = std::size_t(const float* d, std::size_t n, float thr, uint32_t* out);
using SelectFn = SelectKernel*;
// The value of rank k (0-based, k < n) among a[0..n), which holds no NaN (the shortlists'
// compactions, the coarse probe's bound): quickselect with the median of three samples spread
// over the range as pivot. a and tmp (room for n floats) are overwritten: the SIMD forms
// partition out of place, from one to the other (compare, left-pack, masked stores).
using KthKernel = float(float* a, std::size_t n, std::size_t k, float* tmp);
using KthFn = KthKernel*;


// Implementations (the tables of kernels/kernels.h; the test hooks run each one by name).
ScanKernel scan_scalar;
RerankKernel rerank_scalar;
GemmKernel gemm_scalar;
GemmArgminKernel gemm_argmin_scalar;
SelectKernel select_le_scalar;
KthKernel kth_scalar;
#if defined(ADANNS_HAVE_AVX2_TU)
ScanKernel scan_avx2;
RerankKernel rerank_avx2;
GemmKernel gemm_avx2;
GemmArgminKernel gemm_argmin_avx2;
SelectKernel select_le_avx2;  // (kernels/avx2/select_avx2.cpp)
KthKernel kth_avx2;
#endif
#if defined(ADANNS_HAVE_VNNI_TU)
GemmKernel gemm_avx512;  // (kernels/avx512/gemm_avx512.cpp, AVX-512F)
GemmArgminKernel gemm_argmin_avx512;
SelectKernel select_le_avx512;  // (kernels/avx512/select_avx512.cpp, AVX-512F)
KthKernel kth_avx512;
#endif

}  // namespace adanns
