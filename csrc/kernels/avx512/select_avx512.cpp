// AVX-512F selection kernels (kernels/distances.h):
// - select: 16 distances per compare into a mask; the qualifying indices are left-packed in a
//   register (vpcompressd, register form: the memory form is microcoded on some CPUs) and stored
//   whole; the last partial block is a masked load.
// - kth: quickselect whose partitions go out of place, 16 values per step: the values under the
//   pivot left-packed (vcompressps) to the front of the other buffer, those over it to its back,
//   by masked stores of exactly their count (so the two never overwrite each other); the values
//   equal to the pivot are left out (the rank falls among them or the range shrinks). A range of
//   16 or fewer: the element whose rank (values under it, plus equal ones before it) is k.
// Compiled with the other AVX-512 units; includes no STL templates.
#include <immintrin.h>
#include <stdint.h>

#include "kernels/distances.h"

namespace adanns {

std::size_t select_le_avx512(const float* d, std::size_t n, float thr, uint32_t* out) {
    const __m512 th = _mm512_set1_ps(thr);
    const __m512i sixteen = _mm512_set1_epi32(16);
    __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    std::size_t m = 0, r = 0;
    for (; r + 16 <= n; r += 16, idx = _mm512_add_epi32(idx, sixteen)) {
        const __mmask16 mask = _mm512_cmp_ps_mask(_mm512_loadu_ps(d + r), th, _CMP_LE_OQ);
        if (mask == 0) continue;
        _mm512_storeu_si512(out + m, _mm512_maskz_compress_epi32(mask, idx));
        m += static_cast<std::size_t>(__builtin_popcount(mask));
    }
    if (r < n) {
        const __mmask16 valid = static_cast<__mmask16>((1u << (n - r)) - 1u);
        const __mmask16 mask = _mm512_mask_cmp_ps_mask(valid, _mm512_maskz_loadu_ps(valid, d + r), th, _CMP_LE_OQ);
        _mm512_storeu_si512(out + m, _mm512_maskz_compress_epi32(mask, idx));
        m += static_cast<std::size_t>(__builtin_popcount(mask));
    }
    return m;
}

namespace {

inline __mmask16 first_lanes(unsigned c) { return static_cast<__mmask16>((1u << c) - 1u); }

// Values of x (lanes in `valid`) under p to dst[nl...), over p to dst[...ng) (ng decremented).
inline void partition16(__m512 x, __mmask16 valid, __m512 pv, float* dst, size_t& nl, size_t& ng) {
    const __mmask16 lt = _mm512_mask_cmp_ps_mask(valid, x, pv, _CMP_LT_OQ);
    const __mmask16 gt = _mm512_mask_cmp_ps_mask(valid, x, pv, _CMP_GT_OQ);
    const unsigned cl = static_cast<unsigned>(__builtin_popcount(lt)), cg = static_cast<unsigned>(__builtin_popcount(gt));
    _mm512_mask_storeu_ps(dst + nl, first_lanes(cl), _mm512_maskz_compress_ps(lt, x));
    ng -= cg;
    _mm512_mask_storeu_ps(dst + ng, first_lanes(cg), _mm512_maskz_compress_ps(gt, x));
    nl += cl;
}

}  // namespace

float kth_avx512(float* a, std::size_t n, std::size_t k, float* tmp) {
    float* src = a;
    float* dst = tmp;
    std::size_t lo = 0, hi = n;
    for (;;) {
        const std::size_t span = hi - lo;
        if (span <= 16) {
            const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(__builtin_inff()), first_lanes(static_cast<unsigned>(span)), src + lo);
            const std::size_t want = k - lo;
            for (std::size_t i = 0; i + 1 < span; ++i) {
                const float x = src[lo + i];
                const __m512 xv = _mm512_set1_ps(x);
                const unsigned lt = _mm512_cmp_ps_mask(v, xv, _CMP_LT_OQ);
                const unsigned eq = _mm512_cmp_ps_mask(v, xv, _CMP_EQ_OQ) & ((1u << i) - 1u);
                if (static_cast<std::size_t>(__builtin_popcount(lt) + __builtin_popcount(eq)) == want) return x;
            }
            return src[hi - 1];  // (the last one: no other has the rank)
        }
        const float x0 = src[lo + span / 4], x1 = src[lo + span / 2], x2 = src[lo + 3 * span / 4];
        const float mn = x0 < x1 ? x0 : x1, mx = x0 < x1 ? x1 : x0;
        const float m2 = mx < x2 ? mx : x2;
        const float p = mn > m2 ? mn : m2;  // the median of the three
        const __m512 pv = _mm512_set1_ps(p);
        std::size_t nl = lo, ng = hi;  // dst: [lo, nl) under p, [ng, hi) over p
        std::size_t i = lo;
        for (; i + 16 <= hi; i += 16) partition16(_mm512_loadu_ps(src + i), 0xFFFF, pv, dst, nl, ng);
        if (i < hi) {
            const __mmask16 valid = first_lanes(static_cast<unsigned>(hi - i));
            partition16(_mm512_maskz_loadu_ps(valid, src + i), valid, pv, dst, nl, ng);
        }
        if (k < nl) {
            hi = nl;
        } else if (k >= ng) {
            lo = ng;
        } else {
            return p;
        }
        float* t = src;
        src = dst;
        dst = t;
    }
}

}  // namespace adanns
