// AVX2/FMA scan and GEMM kernels. This translation unit alone is compiled with
// -mavx2 -mfma; it includes no STL templates, so no AVX2-compiled inline code can
// leak into the portable part of the module through ODR merging.
#include <immintrin.h>
#include <stdint.h>

#include "common/prefetch.h"
#include "kernels/avx2/simd.h"
#include "kernels/distances.h"
#include "kernels/gemm_driver.h"

namespace adanns {
namespace {

using avx2::hsum1;
using avx2::hsum4;
using avx2::step;
using avx2::tail_mask;

// The tile form: a block of R (<= 4) rows against Q (<= 3) queries. Per 8-dim step: Q query
// loads, R row loads (each used by Q FMAs), R * Q FMAs; a tile's rows are read from L2 once per
// row block for all the queries of the call. Each (row, query) value is the chain
// a = step(q, x, a) over the full steps, the masked tail, then hsum4's fixed per-lane order:
// the same for any R, Q, block position, and the same as the rerank form's value.
// NORM: also the rows' squared norms (once per row, in the first query block).
template <int KIND, int R, int Q, bool NORM>
__attribute__((always_inline)) inline void scan_block(const float* x, std::size_t stride, const float* const* qs,
                                                      std::size_t nfull, std::size_t rem, __m256i mask, float* out,
                                                      std::size_t ldo, float* xnorm) {
    constexpr int kDot = KIND == kScanL2 ? kScanL2 : kScanIP;
    const __m256 zero = _mm256_setzero_ps();
    __m256 a[Q][R], nn[R], unused = zero;
    const float* q[Q];
    for (int j = 0; j < Q; ++j) q[j] = qs[j];
    for (int r = 0; r < R; ++r) {
        nn[r] = zero;
        for (int j = 0; j < Q; ++j) a[j][r] = zero;
    }
    for (std::size_t c = 0; c < nfull; ++c) {
        __m256 qv[Q];
        for (int j = 0; j < Q; ++j) qv[j] = _mm256_loadu_ps(q[j] + c * 8);
        for (int r = 0; r < R; ++r) {
            const __m256 xv = _mm256_loadu_ps(x + r * stride + c * 8);
            for (int j = 0; j < Q; ++j) step<kDot>(qv[j], xv, a[j][r], unused);
            if (NORM) nn[r] = _mm256_fmadd_ps(xv, xv, nn[r]);
        }
    }
    if (rem) {
        __m256 qv[Q];
        for (int j = 0; j < Q; ++j) qv[j] = _mm256_maskload_ps(q[j] + nfull * 8, mask);
        for (int r = 0; r < R; ++r) {
            const __m256 xv = _mm256_maskload_ps(x + r * stride + nfull * 8, mask);
            for (int j = 0; j < Q; ++j) step<kDot>(qv[j], xv, a[j][r], unused);
            if (NORM) nn[r] = _mm256_fmadd_ps(xv, xv, nn[r]);
        }
    }
    auto sum = [&](const __m256* v) {
        return hsum4(v[0], R > 1 ? v[1 % R] : zero, R > 2 ? v[2 % R] : zero, R > 3 ? v[3 % R] : zero);
    };
    alignas(16) float s[4];
    for (int j = 0; j < Q; ++j) {
        const __m128 v = sum(a[j]);
        if (R == 4) {
            _mm_storeu_ps(out + j * ldo, v);
        } else {
            _mm_store_ps(s, v);
            for (int r = 0; r < R; ++r) out[j * ldo + r] = s[r];
        }
    }
    if (NORM) {
        _mm_store_ps(s, sum(nn));
        for (int r = 0; r < R; ++r) xnorm[r] = s[r];
    }
}

// Q (1..3) picked at run time for a block of R rows.
template <int KIND, int R, bool NORM>
__attribute__((always_inline)) inline void scan_block_q(std::size_t q, const float* x, std::size_t stride,
                                                        const float* const* qs, std::size_t nfull, std::size_t rem,
                                                        __m256i mask, float* out, std::size_t ldo, float* xnorm) {
    switch (q) {
        case 1: scan_block<KIND, R, 1, NORM>(x, stride, qs, nfull, rem, mask, out, ldo, xnorm); break;
        case 2: scan_block<KIND, R, 2, NORM>(x, stride, qs, nfull, rem, mask, out, ldo, xnorm); break;
        default: scan_block<KIND, R, 3, NORM>(x, stride, qs, nfull, rem, mask, out, ldo, xnorm); break;
    }
}

// All m queries against R rows: the rows stay in L1 while the query blocks go over them. With the
// norms (IPNorm), the first block holds at most 2 queries (its 4 norm accumulators need the room).
template <int KIND, int R>
__attribute__((always_inline)) inline void scan_rows(const float* x, std::size_t stride, const float* const* qs,
                                                     std::size_t m, std::size_t nfull, std::size_t rem, __m256i mask,
                                                     float* out, std::size_t ldo, float* xnorm) {
    std::size_t j = 0;
    if (KIND == kScanIPNorm) {
        j = m < 2 ? m : 2;
        scan_block_q<KIND, R, true>(j, x, stride, qs, nfull, rem, mask, out, ldo, xnorm);
    }
    for (; j < m; j += 3)
        scan_block_q<KIND, R, false>(m - j, x, stride, qs + j, nfull, rem, mask, out + j * ldo, ldo, xnorm);
}

template <int KIND>
void scan_impl(const float* const* qs, std::size_t m, const float* X, std::size_t n, std::size_t stride,
               std::size_t w, float* out, std::size_t ldo, float* xnorm) {
    if (m == 0) return;
    const std::size_t nfull = w / 8, rem = w % 8;
    const __m256i mask = tail_mask(rem);
    // The scanned prefixes of the rows ahead are prefetched (about 64 lines in flight): list rows
    // are usually read here for the first time, from DRAM, and a short prefix of a long row is a
    // strided stream the hardware prefetchers follow late.
    const std::size_t lines = (w * sizeof(float) + 63) / 64;
    const std::size_t ahead = (64 / lines + 3) / 4 * 4;  // rows, a multiple of the block
    auto prefetch_rows = [&](std::size_t b, std::size_t e) {
        for (std::size_t r = b; r < e; ++r) prefetch_span(X + r * stride, w * sizeof(float));
    };
    prefetch_rows(0, n < ahead ? n : ahead);
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        if (i + ahead < n) prefetch_rows(i + ahead, i + ahead + 4 < n ? i + ahead + 4 : n);
        scan_rows<KIND, 4>(X + i * stride, stride, qs, m, nfull, rem, mask, out + i, ldo, xnorm + i);
    }
    switch (n - i) {
        case 1: scan_rows<KIND, 1>(X + i * stride, stride, qs, m, nfull, rem, mask, out + i, ldo, xnorm + i); break;
        case 2: scan_rows<KIND, 2>(X + i * stride, stride, qs, m, nfull, rem, mask, out + i, ldo, xnorm + i); break;
        case 3: scan_rows<KIND, 3>(X + i * stride, stride, qs, m, nfull, rem, mask, out + i, ldo, xnorm + i); break;
        default: break;
    }
}

// The rerank form: one row against R (<= 4) queries, the row's 8-float steps loaded once for all
// of them. Query r's value is the chain a = step(q_r, x, a) over the full steps, the masked tail,
// then hsum4's fixed per-lane order: the same for any R and any position among the R.
// NORM: also the row's squared norm (computed once per row, not per query).
template <int KIND, int R, bool NORM>
inline void rerank_group(const float* x, const float* const* qs, std::size_t nfull, std::size_t rem,
                         __m256i mask, float* out, float* xnorm) {
    constexpr int kDot = KIND == kScanL2 ? kScanL2 : kScanIP;
    __m256 a[4], nn = _mm256_setzero_ps(), unused = _mm256_setzero_ps();
    for (int r = 0; r < 4; ++r) a[r] = _mm256_setzero_ps();
    for (std::size_t c = 0; c < nfull; ++c) {
        const __m256 xv = _mm256_loadu_ps(x + c * 8);
        for (int r = 0; r < R; ++r) step<kDot>(_mm256_loadu_ps(qs[r] + c * 8), xv, a[r], unused);
        if (NORM) nn = _mm256_fmadd_ps(xv, xv, nn);
    }
    if (rem) {
        const __m256 xv = _mm256_maskload_ps(x + nfull * 8, mask);
        for (int r = 0; r < R; ++r) step<kDot>(_mm256_maskload_ps(qs[r] + nfull * 8, mask), xv, a[r], unused);
        if (NORM) nn = _mm256_fmadd_ps(xv, xv, nn);
    }
    alignas(16) float s[4];
    _mm_store_ps(s, hsum4(a[0], a[1], a[2], a[3]));
    for (int r = 0; r < R; ++r) out[r] = s[r];
    if (NORM) *xnorm = hsum1(nn);
}

template <int KIND>
void rerank_impl(const float* x, const float* const* qs, std::size_t m, std::size_t w, float* out, float* xnorm) {
    const std::size_t nfull = w / 8, rem = w % 8;
    const __m256i mask = tail_mask(rem);
    constexpr bool kNorm = KIND == kScanIPNorm;
    std::size_t i = 0;
    if (kNorm && m > 0) {  // the first group also computes the row's norm
        switch (m < 4 ? m : 4) {
            case 1: rerank_group<KIND, 1, kNorm>(x, qs, nfull, rem, mask, out, xnorm); break;
            case 2: rerank_group<KIND, 2, kNorm>(x, qs, nfull, rem, mask, out, xnorm); break;
            case 3: rerank_group<KIND, 3, kNorm>(x, qs, nfull, rem, mask, out, xnorm); break;
            default: rerank_group<KIND, 4, kNorm>(x, qs, nfull, rem, mask, out, xnorm); break;
        }
        i = m < 4 ? m : 4;
    }
    for (; i < m; i += 4) {
        switch (m - i < 4 ? m - i : 4) {
            case 1: rerank_group<KIND, 1, false>(x, qs + i, nfull, rem, mask, out + i, xnorm); break;
            case 2: rerank_group<KIND, 2, false>(x, qs + i, nfull, rem, mask, out + i, xnorm); break;
            case 3: rerank_group<KIND, 3, false>(x, qs + i, nfull, rem, mask, out + i, xnorm); break;
            default: rerank_group<KIND, 4, false>(x, qs + i, nfull, rem, mask, out + i, xnorm); break;
        }
    }
}

// ---------------------------------------------------------------------------------
// GEMM form: a block of up to kMR points against one panel of 16 packed centroids.
// 2 * P ymm accumulators; per dim: 2 panel loads, P broadcasts, 2 * P FMAs. The blocking is
// kernels/gemm_driver.h's (shared with the AVX-512F form).

template <int P>
inline void panel_dots(const float* X, std::size_t ldx, const float* pan, std::size_t d,
                       __m256 (&a)[P][2]) {
    const float* x[P];
#pragma GCC unroll 8
    for (int r = 0; r < P; ++r) {
        x[r] = X + r * ldx;
        a[r][0] = _mm256_setzero_ps();
        a[r][1] = _mm256_setzero_ps();
    }
    for (std::size_t t = 0; t < d; ++t) {
        const __m256 c0 = _mm256_loadu_ps(pan + t * 16);
        const __m256 c1 = _mm256_loadu_ps(pan + t * 16 + 8);
#pragma GCC unroll 8
        for (int r = 0; r < P; ++r) {
            const __m256 xb = _mm256_broadcast_ss(x[r] + t);
            a[r][0] = _mm256_fmadd_ps(xb, c0, a[r][0]);
            a[r][1] = _mm256_fmadd_ps(xb, c1, a[r][1]);
        }
    }
}

// Per-panel constants.
struct PanelCtx {
    __m256 bias0, bias1;   // bias of the 16 columns (+inf on padding columns for argmin)
    __m256 alpha;
    __m256i idx0, idx1;    // column numbers j of the 16 lanes
    __m256i mask0, mask1;  // valid columns
    bool full;             // all 16 columns valid
};

// The form of gemm_driver.h: the per-panel constants and the register-block kernels.
struct Avx2Gemm {
    static constexpr int kMR = 6;              // points per micro-kernel call (12 accumulators)
    static constexpr int kQ = 1;               // panels per call
    static constexpr std::size_t kBlock = 24;  // points per block: a panel is reused from L1 by 4 calls
    using Ctx = PanelCtx;

    // Argmin: running lane-wise minimum per point in bval/bidx (16 lanes per point).
    template <int P, int Q>
    static void argmin(const float* X, std::size_t ldx, const float* pan, std::size_t d, const Ctx* cs,
                       float* bval, int32_t* bidx) {
        static_assert(Q == 1, "one panel per call");
        const Ctx& c = cs[0];
        __m256 a[P][2];
        panel_dots<P>(X, ldx, pan, d, a);
#pragma GCC unroll 8
        for (int r = 0; r < P; ++r) {
            float* v = bval + r * 16;
            int32_t* id = bidx + r * 16;
            const __m256 d0 = _mm256_fmadd_ps(a[r][0], c.alpha, c.bias0);
            const __m256 d1 = _mm256_fmadd_ps(a[r][1], c.alpha, c.bias1);
            const __m256 v0 = _mm256_load_ps(v), v1 = _mm256_load_ps(v + 8);
            const __m256 m0 = _mm256_cmp_ps(d0, v0, _CMP_LT_OQ);
            const __m256 m1 = _mm256_cmp_ps(d1, v1, _CMP_LT_OQ);
            _mm256_store_ps(v, _mm256_blendv_ps(v0, d0, m0));
            _mm256_store_ps(v + 8, _mm256_blendv_ps(v1, d1, m1));
            const __m256 i0 = _mm256_load_ps(reinterpret_cast<const float*>(id));
            const __m256 i1 = _mm256_load_ps(reinterpret_cast<const float*>(id + 8));
            _mm256_store_ps(reinterpret_cast<float*>(id),
                            _mm256_blendv_ps(i0, _mm256_castsi256_ps(c.idx0), m0));
            _mm256_store_ps(reinterpret_cast<float*>(id + 8),
                            _mm256_blendv_ps(i1, _mm256_castsi256_ps(c.idx1), m1));
        }
    }

    // Full output: out[r * ldo + c] for the valid columns c of the panel.
    template <int P, int Q>
    static void store(const float* X, std::size_t ldx, const float* pan, std::size_t d, const Ctx* cs,
                      float* out, std::size_t ldo) {
        static_assert(Q == 1, "one panel per call");
        const Ctx& c = cs[0];
        __m256 a[P][2];
        panel_dots<P>(X, ldx, pan, d, a);
#pragma GCC unroll 8
        for (int r = 0; r < P; ++r) {
            const __m256 d0 = _mm256_fmadd_ps(a[r][0], c.alpha, c.bias0);
            const __m256 d1 = _mm256_fmadd_ps(a[r][1], c.alpha, c.bias1);
            float* o = out + r * ldo;
            if (c.full) {
                _mm256_storeu_ps(o, d0);
                _mm256_storeu_ps(o + 8, d1);
            } else {
                _mm256_maskstore_ps(o, c.mask0, d0);
                _mm256_maskstore_ps(o + 8, c.mask1, d1);
            }
        }
    }

    static Ctx ctx(std::size_t p, std::size_t k, const float* bias, float alpha, bool argmin) {
        Ctx c;
        const std::size_t j0 = p * 16;
        const std::size_t nc = k - j0 < 16 ? k - j0 : 16;
        c.full = nc == 16;
        c.mask0 = tail_mask(nc < 8 ? nc : 8);
        c.mask1 = tail_mask(nc > 8 ? nc - 8 : 0);
        c.alpha = _mm256_set1_ps(alpha);
        if (bias == nullptr) {
            c.bias0 = _mm256_setzero_ps();
            c.bias1 = _mm256_setzero_ps();
        } else if (c.full) {
            c.bias0 = _mm256_loadu_ps(bias + j0);
            c.bias1 = _mm256_loadu_ps(bias + j0 + 8);
        } else {
            c.bias0 = _mm256_maskload_ps(bias + j0, c.mask0);
            c.bias1 = _mm256_maskload_ps(bias + j0 + 8, c.mask1);
        }
        if (argmin && !c.full) {
            const __m256 inf = _mm256_set1_ps(__builtin_inff());
            c.bias0 = _mm256_blendv_ps(inf, c.bias0, _mm256_castsi256_ps(c.mask0));
            c.bias1 = _mm256_blendv_ps(inf, c.bias1, _mm256_castsi256_ps(c.mask1));
        }
        const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        c.idx0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(j0)), lanes);
        c.idx1 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(j0 + 8)), lanes);
        return c;
    }
};


}  // namespace

void gemm_avx2(const float* X, std::size_t n, std::size_t ldx, const float* packed, std::size_t k,
               std::size_t d, const float* bias, float alpha, float* out, std::size_t ldo) {
    gemm_detail::gemm_blocks<Avx2Gemm>(X, n, ldx, packed, k, d, bias, alpha, out, ldo);
}

void gemm_argmin_avx2(const float* X, std::size_t n, std::size_t ldx, const float* packed,
                      std::size_t k, std::size_t d, const float* bias, float alpha, int64_t* best,
                      float* best_dist) {
    gemm_detail::gemm_argmin_blocks<Avx2Gemm>(X, n, ldx, packed, k, d, bias, alpha, best, best_dist);
}

void scan_avx2(int kind, const float* const* qs, std::size_t m, const float* X, std::size_t n,
               std::size_t stride, std::size_t w, float* out, std::size_t ldo, float* xnorm) {
    switch (kind) {
        case kScanL2: scan_impl<kScanL2>(qs, m, X, n, stride, w, out, ldo, xnorm); break;
        case kScanIP: scan_impl<kScanIP>(qs, m, X, n, stride, w, out, ldo, xnorm); break;
        default: scan_impl<kScanIPNorm>(qs, m, X, n, stride, w, out, ldo, xnorm); break;
    }
}

void rerank_avx2(int kind, const float* x, const float* const* qs, std::size_t m, std::size_t w, float* out,
                 float* xnorm) {
    switch (kind) {
        case kScanL2: rerank_impl<kScanL2>(x, qs, m, w, out, xnorm); break;
        case kScanIP: rerank_impl<kScanIP>(x, qs, m, w, out, xnorm); break;
        default: rerank_impl<kScanIPNorm>(x, qs, m, w, out, xnorm); break;
    }
}

}  // namespace adanns
