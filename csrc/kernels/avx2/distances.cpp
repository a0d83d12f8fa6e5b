// AVX2/FMA scan and GEMM kernels. This translation unit alone is compiled with
// -mavx2 -mfma; it includes no STL templates, so no AVX2-compiled inline code can
// leak into the portable part of the module through ODR merging.
#include <immintrin.h>
#include <stdint.h>

#include "kernels/avx2/simd.h"
#include "kernels/distances.h"

namespace adanns {
namespace {

using avx2::hsum1;
using avx2::hsum4;
using avx2::step;
using avx2::tail_mask;

// R rows at a time (R = 8 for L2/IP, 4 for IPNorm which needs two accumulators per row).
template <int KIND, int R>
void scan_impl(const float* q, const float* X, std::size_t n, std::size_t stride, std::size_t w,
               float* acc, float* acc_norm) {
    const std::size_t nfull = w / 8;
    const std::size_t rem = w % 8;
    const __m256i mask = tail_mask(rem);
    const __m256 qtail = rem ? _mm256_maskload_ps(q + nfull * 8, mask) : _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + R <= n; i += R) {
        const float* x = X + i * stride;
        __m256 a[R], nn[R];
        for (int r = 0; r < R; ++r) {
            a[r] = _mm256_setzero_ps();
            nn[r] = _mm256_setzero_ps();
        }
        for (std::size_t c = 0; c < nfull; ++c) {
            const __m256 qv = _mm256_loadu_ps(q + c * 8);
            for (int r = 0; r < R; ++r)
                step<KIND>(qv, _mm256_loadu_ps(x + r * stride + c * 8), a[r], nn[r]);
        }
        if (rem) {
            for (int r = 0; r < R; ++r)
                step<KIND>(qtail, _mm256_maskload_ps(x + r * stride + nfull * 8, mask), a[r], nn[r]);
        }
        for (int r = 0; r < R; r += 4) {
            const __m128 s = hsum4(a[r], a[r + 1], a[r + 2], a[r + 3]);
            _mm_storeu_ps(acc + i + r, _mm_add_ps(_mm_loadu_ps(acc + i + r), s));
            if (KIND == kScanIPNorm) {
                const __m128 t = hsum4(nn[r], nn[r + 1], nn[r + 2], nn[r + 3]);
                _mm_storeu_ps(acc_norm + i + r, _mm_add_ps(_mm_loadu_ps(acc_norm + i + r), t));
            }
        }
    }
    for (; i < n; ++i) {
        const float* x = X + i * stride;
        __m256 a = _mm256_setzero_ps(), nn = _mm256_setzero_ps();
        for (std::size_t c = 0; c < nfull; ++c)
            step<KIND>(_mm256_loadu_ps(q + c * 8), _mm256_loadu_ps(x + c * 8), a, nn);
        if (rem) step<KIND>(qtail, _mm256_maskload_ps(x + nfull * 8, mask), a, nn);
        acc[i] += hsum1(a);
        if (KIND == kScanIPNorm) acc_norm[i] += hsum1(nn);
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
// 2 * P ymm accumulators; per dim: 2 panel loads, P broadcasts, 2 * P FMAs.

constexpr int kMR = 6;               // points per micro-kernel call (12 accumulators)
constexpr std::size_t kBlock = 24;   // points per block: a panel is reused from L1 by 4 calls

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

// Argmin: running lane-wise minimum per point in bval/bidx (16 lanes per point).
template <int P>
inline void block_argmin(const float* X, std::size_t ldx, const float* pan, std::size_t d,
                         const PanelCtx& ctx, float* bval, int32_t* bidx) {
    __m256 a[P][2];
    panel_dots<P>(X, ldx, pan, d, a);
#pragma GCC unroll 8
    for (int r = 0; r < P; ++r) {
        float* v = bval + r * 16;
        int32_t* id = bidx + r * 16;
        const __m256 d0 = _mm256_fmadd_ps(a[r][0], ctx.alpha, ctx.bias0);
        const __m256 d1 = _mm256_fmadd_ps(a[r][1], ctx.alpha, ctx.bias1);
        const __m256 v0 = _mm256_load_ps(v), v1 = _mm256_load_ps(v + 8);
        const __m256 m0 = _mm256_cmp_ps(d0, v0, _CMP_LT_OQ);
        const __m256 m1 = _mm256_cmp_ps(d1, v1, _CMP_LT_OQ);
        _mm256_store_ps(v, _mm256_blendv_ps(v0, d0, m0));
        _mm256_store_ps(v + 8, _mm256_blendv_ps(v1, d1, m1));
        const __m256 i0 = _mm256_load_ps(reinterpret_cast<const float*>(id));
        const __m256 i1 = _mm256_load_ps(reinterpret_cast<const float*>(id + 8));
        _mm256_store_ps(reinterpret_cast<float*>(id),
                        _mm256_blendv_ps(i0, _mm256_castsi256_ps(ctx.idx0), m0));
        _mm256_store_ps(reinterpret_cast<float*>(id + 8),
                        _mm256_blendv_ps(i1, _mm256_castsi256_ps(ctx.idx1), m1));
    }
}

// Full output: out[r * ldo + c] for the valid columns c of the panel.
template <int P>
inline void block_store(const float* X, std::size_t ldx, const float* pan, std::size_t d,
                        const PanelCtx& ctx, float* out, std::size_t ldo) {
    __m256 a[P][2];
    panel_dots<P>(X, ldx, pan, d, a);
#pragma GCC unroll 8
    for (int r = 0; r < P; ++r) {
        const __m256 d0 = _mm256_fmadd_ps(a[r][0], ctx.alpha, ctx.bias0);
        const __m256 d1 = _mm256_fmadd_ps(a[r][1], ctx.alpha, ctx.bias1);
        float* o = out + r * ldo;
        if (ctx.full) {
            _mm256_storeu_ps(o, d0);
            _mm256_storeu_ps(o + 8, d1);
        } else {
            _mm256_maskstore_ps(o, ctx.mask0, d0);
            _mm256_maskstore_ps(o + 8, ctx.mask1, d1);
        }
    }
}

// The micro-kernel for the next rows >= 1 points of a block: f(RowCount<P>{}) with
// P = min(rows, kMR), so the last, partial block of a batch runs with a register block of its size.
template <int P>
struct RowCount {
    static constexpr int value = P;
};
template <int P = kMR, class F>
inline void with_row_block(std::size_t rows, F&& f) {
    if constexpr (P > 1) {
        if (rows < std::size_t(P)) return with_row_block<P - 1>(rows, f);
    }
    f(RowCount<P>{});
}

inline PanelCtx panel_ctx(std::size_t p, std::size_t k, const float* bias, float alpha, bool argmin) {
    PanelCtx ctx;
    const std::size_t j0 = p * 16;
    const std::size_t nc = k - j0 < 16 ? k - j0 : 16;
    ctx.full = nc == 16;
    ctx.mask0 = tail_mask(nc < 8 ? nc : 8);
    ctx.mask1 = tail_mask(nc > 8 ? nc - 8 : 0);
    ctx.alpha = _mm256_set1_ps(alpha);
    if (bias == nullptr) {
        ctx.bias0 = _mm256_setzero_ps();
        ctx.bias1 = _mm256_setzero_ps();
    } else if (ctx.full) {
        ctx.bias0 = _mm256_loadu_ps(bias + j0);
        ctx.bias1 = _mm256_loadu_ps(bias + j0 + 8);
    } else {
        ctx.bias0 = _mm256_maskload_ps(bias + j0, ctx.mask0);
        ctx.bias1 = _mm256_maskload_ps(bias + j0 + 8, ctx.mask1);
    }
    if (argmin && !ctx.full) {
        const __m256 inf = _mm256_set1_ps(__builtin_inff());
        ctx.bias0 = _mm256_blendv_ps(inf, ctx.bias0, _mm256_castsi256_ps(ctx.mask0));
        ctx.bias1 = _mm256_blendv_ps(inf, ctx.bias1, _mm256_castsi256_ps(ctx.mask1));
    }
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    ctx.idx0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(j0)), lanes);
    ctx.idx1 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(j0 + 8)), lanes);
    return ctx;
}

}  // namespace

void gemm_avx2(const float* X, std::size_t n, std::size_t ldx, const float* packed, std::size_t k,
               std::size_t d, const float* bias, float alpha, float* out, std::size_t ldo) {
    const std::size_t np = (k + 15) / 16;
    for (std::size_t i0 = 0; i0 < n; i0 += kBlock) {
        const std::size_t nb = n - i0 < kBlock ? n - i0 : kBlock;
        for (std::size_t p = 0; p < np; ++p) {
            const PanelCtx ctx = panel_ctx(p, k, bias, alpha, false);
            const float* pan = packed + p * d * 16;
            for (std::size_t r0 = 0; r0 < nb; r0 += kMR) {
                const float* x = X + (i0 + r0) * ldx;
                float* o = out + (i0 + r0) * ldo + p * 16;
                with_row_block(nb - r0, [&](auto rows) {
                    block_store<decltype(rows)::value>(x, ldx, pan, d, ctx, o, ldo);
                });
            }
        }
    }
}

void gemm_argmin_avx2(const float* X, std::size_t n, std::size_t ldx, const float* packed,
                      std::size_t k, std::size_t d, const float* bias, float alpha, int64_t* best,
                      float* best_dist) {
    const std::size_t np = (k + 15) / 16;
    alignas(32) float bval[kBlock * 16];
    alignas(32) int32_t bidx[kBlock * 16];
    const float inf = __builtin_inff();
    for (std::size_t i0 = 0; i0 < n; i0 += kBlock) {
        const std::size_t nb = n - i0 < kBlock ? n - i0 : kBlock;
        for (std::size_t e = 0; e < nb * 16; ++e) {
            bval[e] = inf;
            bidx[e] = 0;
        }
        for (std::size_t p = 0; p < np; ++p) {
            const PanelCtx ctx = panel_ctx(p, k, bias, alpha, true);
            const float* pan = packed + p * d * 16;
            for (std::size_t r0 = 0; r0 < nb; r0 += kMR) {
                const float* x = X + (i0 + r0) * ldx;
                float* v = bval + r0 * 16;
                int32_t* id = bidx + r0 * 16;
                with_row_block(nb - r0, [&](auto rows) {
                    block_argmin<decltype(rows)::value>(x, ldx, pan, d, ctx, v, id);
                });
            }
        }
        // Lane l holds the first minimum among columns j = l (mod 16); the overall
        // answer is the smallest value, ties to the lowest column.
        for (std::size_t r = 0; r < nb; ++r) {
            const float* v = bval + r * 16;
            const int32_t* id = bidx + r * 16;
            float bd = inf;
            int32_t bj = -1;
            for (int l = 0; l < 16; ++l) {
                if (v[l] < bd || (v[l] == bd && bj >= 0 && id[l] < bj)) {
                    bd = v[l];
                    bj = id[l];
                }
            }
            best[i0 + r] = bj < 0 ? 0 : static_cast<int64_t>(bj);
            if (best_dist) best_dist[i0 + r] = bd;
        }
    }
}

void scan_avx2(int kind, const float* q, const float* X, std::size_t n, std::size_t stride,
               std::size_t w, float* acc, float* acc_norm) {
    switch (kind) {
        case kScanL2: scan_impl<kScanL2, 8>(q, X, n, stride, w, acc, acc_norm); break;
        case kScanIP: scan_impl<kScanIP, 8>(q, X, n, stride, w, acc, acc_norm); break;
        default: scan_impl<kScanIPNorm, 4>(q, X, n, stride, w, acc, acc_norm); break;
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
