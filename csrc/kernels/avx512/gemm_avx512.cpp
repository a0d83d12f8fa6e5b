// AVX-512F GEMM kernels (many points x packed centroid panels: coarse probing, k-means and add
// assignment). This unit alone, with the other AVX-512 units, is compiled with -mavx512f; it
// includes no STL templates. The same algorithm as the AVX2 form (kernels/avx2/distances.cpp):
// a block of points against one panel of 16 packed centroids, one sequential FMA chain per
// (point, centroid) over the d dims, then bias + alpha * dot; a panel's 16 columns are one zmm
// instead of two ymm, so a dim costs 1 panel load and P FMAs (broadcasts folded into them)
// instead of 2 loads and 2P FMAs. Each lane computes the same operations in the same order as
// the AVX2 kernel: the results are the same bits (tested).
#include <immintrin.h>
#include <stdint.h>

#include "kernels/distances.h"

namespace adanns {
namespace {

constexpr int kMR = 12;              // points per micro-kernel call (12 zmm accumulators)
constexpr std::size_t kBlock = 48;   // points per block: a panel is reused from L1 by 4 calls

template <int P>
inline void panel_dots(const float* X, std::size_t ldx, const float* pan, std::size_t d, __m512 (&a)[P]) {
    const float* x[P];
#pragma GCC unroll 12
    for (int r = 0; r < P; ++r) {
        x[r] = X + r * ldx;
        a[r] = _mm512_setzero_ps();
    }
    for (std::size_t t = 0; t < d; ++t) {
        const __m512 c = _mm512_loadu_ps(pan + t * 16);
#pragma GCC unroll 12
        for (int r = 0; r < P; ++r) a[r] = _mm512_fmadd_ps(_mm512_set1_ps(x[r][t]), c, a[r]);
    }
}

struct PanelCtx {
    __m512 bias, alpha;
    __m512i idx;     // column numbers j of the 16 lanes
    __mmask16 mask;  // valid columns
};

inline PanelCtx panel_ctx(std::size_t p, std::size_t k, const float* bias, float alpha, bool argmin) {
    PanelCtx ctx;
    const std::size_t j0 = p * 16;
    const std::size_t nc = k - j0 < 16 ? k - j0 : 16;
    ctx.mask = static_cast<__mmask16>((1u << nc) - 1u);
    ctx.alpha = _mm512_set1_ps(alpha);
    ctx.bias = bias ? _mm512_maskz_loadu_ps(ctx.mask, bias + j0) : _mm512_setzero_ps();
    if (argmin) ctx.bias = _mm512_mask_blend_ps(ctx.mask, _mm512_set1_ps(__builtin_inff()), ctx.bias);
    ctx.idx = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(j0)),
                               _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    return ctx;
}

template <int P>
inline void block_store(const float* X, std::size_t ldx, const float* pan, std::size_t d, const PanelCtx& ctx,
                        float* out, std::size_t ldo) {
    __m512 a[P];
    panel_dots<P>(X, ldx, pan, d, a);
#pragma GCC unroll 12
    for (int r = 0; r < P; ++r)
        _mm512_mask_storeu_ps(out + r * ldo, ctx.mask, _mm512_fmadd_ps(a[r], ctx.alpha, ctx.bias));
}

// Argmin: running lane-wise minimum per point in bval/bidx (16 lanes per point).
template <int P>
inline void block_argmin(const float* X, std::size_t ldx, const float* pan, std::size_t d, const PanelCtx& ctx,
                         float* bval, int32_t* bidx) {
    __m512 a[P];
    panel_dots<P>(X, ldx, pan, d, a);
#pragma GCC unroll 12
    for (int r = 0; r < P; ++r) {
        const __m512 dv = _mm512_fmadd_ps(a[r], ctx.alpha, ctx.bias);
        const __m512 v = _mm512_load_ps(bval + r * 16);
        const __mmask16 lt = _mm512_cmp_ps_mask(dv, v, _CMP_LT_OQ);
        _mm512_store_ps(bval + r * 16, _mm512_mask_blend_ps(lt, v, dv));
        const __m512i id = _mm512_load_si512(bidx + r * 16);
        _mm512_store_si512(bidx + r * 16, _mm512_mask_blend_epi32(lt, id, ctx.idx));
    }
}

// f(RowCount<P>{}) with P = min(rows, kMR).
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

}  // namespace

void gemm_avx512(const float* X, std::size_t n, std::size_t ldx, const float* packed, std::size_t k, std::size_t d,
                 const float* bias, float alpha, float* out, std::size_t ldo) {
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

void gemm_argmin_avx512(const float* X, std::size_t n, std::size_t ldx, const float* packed, std::size_t k,
                        std::size_t d, const float* bias, float alpha, int64_t* best, float* best_dist) {
    const std::size_t np = (k + 15) / 16;
    alignas(64) float bval[kBlock * 16];
    alignas(64) int32_t bidx[kBlock * 16];
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
                with_row_block(nb - r0, [&](auto rows) {
                    block_argmin<decltype(rows)::value>(x, ldx, pan, d, ctx, bval + r0 * 16, bidx + r0 * 16);
                });
            }
        }
        // Lane l holds the first minimum among columns j = l (mod 16); the overall answer is the
        // smallest value, ties to the lowest column (as the AVX2 and scalar kernels).
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

}  // namespace adanns
