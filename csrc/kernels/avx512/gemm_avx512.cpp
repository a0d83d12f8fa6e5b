// AVX-512F GEMM kernels (many points x packed centroid panels: coarse probing, k-means and add
// assignment). This unit alone, with the other AVX-512 units, is compiled with -mavx512f; it
// includes no STL templates. The same algorithm as the AVX2 form (kernels/avx2/distances.cpp):
// one sequential FMA chain per (point, centroid) over the d dims, then bias + alpha * dot; a
// panel's 16 columns are one zmm instead of two ymm. A call scores up to 8 points against 3
// panels (24 zmm accumulators): per dim 3 panel loads and 8 broadcasts for 24 FMAs, where 12
// points against one panel took 13 loads for 12 (37 -> 48-62 GMAC/s in a one-thread micro-
// benchmark of 2,000 x 1,232 x 128 / 384 on an Ice Lake server core). Each lane computes the
// same operations in the same order as the AVX2 kernel: the results are the same bits (tested).
#include <immintrin.h>
#include <stdint.h>

#include "kernels/distances.h"
#include "kernels/gemm_driver.h"

namespace adanns {
namespace {

// a[r][q] = dots of point r with the 16 centroids of panel q (panels d * 16 floats apart).
template <int P, int Q>
inline void panel_dots(const float* X, std::size_t ldx, const float* pan, std::size_t d, __m512 (&a)[P][Q]) {
    const float* x[P];
#pragma GCC unroll 8
    for (int r = 0; r < P; ++r) {
        x[r] = X + r * ldx;
#pragma GCC unroll 3
        for (int q = 0; q < Q; ++q) a[r][q] = _mm512_setzero_ps();
    }
    for (std::size_t t = 0; t < d; ++t) {
        __m512 c[Q];
#pragma GCC unroll 3
        for (int q = 0; q < Q; ++q) c[q] = _mm512_loadu_ps(pan + q * d * 16 + t * 16);
#pragma GCC unroll 8
        for (int r = 0; r < P; ++r) {
            const __m512 b = _mm512_set1_ps(x[r][t]);
#pragma GCC unroll 3
            for (int q = 0; q < Q; ++q) a[r][q] = _mm512_fmadd_ps(b, c[q], a[r][q]);
        }
    }
}

// The panel constants are read after the dot loop: the compiler cannot hoist their loads
// into it, where they held 4 of the 32 zmm registers and the 3 panel loads went through
// the stack (1.6x slower in the micro-benchmark above).
template <class T>
inline void launder(const T*& p) {
    asm volatile("" : "+r"(p));
}

struct PanelCtx {
    __m512 bias, alpha;
    __m512i idx;     // column numbers j of the 16 lanes
    __mmask16 mask;  // valid columns
};

// The form of gemm_driver.h: the per-panel constants and the register-block kernels.
struct Avx512Gemm {
    static constexpr int kMR = 8;               // points per micro-kernel call ...
    static constexpr int kQ = 3;                // ... against 3 panels (24 zmm accumulators)
    static constexpr std::size_t kBlock = 48;   // points per block: a panel group is reused by 6 calls
    using Ctx = PanelCtx;

    static Ctx ctx(std::size_t p, std::size_t k, const float* bias, float alpha, bool argmin) {
        Ctx c;
        const std::size_t j0 = p * 16;
        const std::size_t nc = k - j0 < 16 ? k - j0 : 16;
        c.mask = static_cast<__mmask16>((1u << nc) - 1u);
        c.alpha = _mm512_set1_ps(alpha);
        c.bias = bias ? _mm512_maskz_loadu_ps(c.mask, bias + j0) : _mm512_setzero_ps();
        if (argmin) c.bias = _mm512_mask_blend_ps(c.mask, _mm512_set1_ps(__builtin_inff()), c.bias);
        c.idx = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(j0)),
                                 _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
        return c;
    }

    // Full output: out[r * ldo + q * 16 + c] for the valid columns c of each panel q.
    template <int P, int Q>
    static void store(const float* X, std::size_t ldx, const float* pan, std::size_t d, const Ctx* c, float* out,
                      std::size_t ldo) {
        __m512 a[P][Q];
        panel_dots<P, Q>(X, ldx, pan, d, a);
        launder(c);
#pragma GCC unroll 8
        for (int r = 0; r < P; ++r)
#pragma GCC unroll 3
            for (int q = 0; q < Q; ++q)
                _mm512_mask_storeu_ps(out + r * ldo + q * 16, c[q].mask, _mm512_fmadd_ps(a[r][q], c[q].alpha, c[q].bias));
    }

    // Argmin: running lane-wise minimum per point in bval/bidx (16 lanes per point), the panels
    // merged in their order (a tie keeps the earlier column, as one panel a call did).
    template <int P, int Q>
    static void argmin(const float* X, std::size_t ldx, const float* pan, std::size_t d, const Ctx* c, float* bval,
                       int32_t* bidx) {
        __m512 a[P][Q];
        panel_dots<P, Q>(X, ldx, pan, d, a);
        launder(c);
#pragma GCC unroll 8
        for (int r = 0; r < P; ++r) {
            __m512 v = _mm512_load_ps(bval + r * 16);
            __m512i id = _mm512_load_si512(bidx + r * 16);
#pragma GCC unroll 3
            for (int q = 0; q < Q; ++q) {
                const __m512 dv = _mm512_fmadd_ps(a[r][q], c[q].alpha, c[q].bias);
                const __mmask16 lt = _mm512_cmp_ps_mask(dv, v, _CMP_LT_OQ);
                v = _mm512_mask_blend_ps(lt, v, dv);
                id = _mm512_mask_blend_epi32(lt, id, c[q].idx);
            }
            _mm512_store_ps(bval + r * 16, v);
            _mm512_store_si512(bidx + r * 16, id);
        }
    }
};

}  // namespace

void gemm_avx512(const float* X, std::size_t n, std::size_t ldx, const float* packed, std::size_t k, std::size_t d,
                 const float* bias, float alpha, float* out, std::size_t ldo) {
    gemm_detail::gemm_blocks<Avx512Gemm>(X, n, ldx, packed, k, d, bias, alpha, out, ldo);
}

void gemm_argmin_avx512(const float* X, std::size_t n, std::size_t ldx, const float* packed, std::size_t k,
                        std::size_t d, const float* bias, float alpha, int64_t* best, float* best_dist) {
    gemm_detail::gemm_argmin_blocks<Avx512Gemm>(X, n, ldx, packed, k, d, bias, alpha, best, best_dist);
}

}  // namespace adanns
