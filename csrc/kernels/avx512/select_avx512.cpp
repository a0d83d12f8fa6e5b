// AVX-512F selection kernels (kernels/distances.h):
// - select: 16 distances per compare into a mask; the qualifying indices are left-packed in a
//   register (vpcompressd, register form: the memory form is microcoded on some CPUs) and stored
//   whole; the last partial block is a masked load.
// - kth: the quickselect of kernels/kth_driver.h on 16 lanes: the values under the pivot
//   left-packed (vcompressps) to the front of the other buffer, those over it to its back, by
//   masked stores of exactly their count (so the two never overwrite each other).
// Compiled with the other AVX-512 units; includes no STL templates.
#include <immintrin.h>
#include <stdint.h>

#include "kernels/distances.h"
#include "kernels/kth_driver.h"

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

// The form of kth_driver.h on 16 lanes.
struct Avx512Kth {
    static void partition(const float* src, std::size_t lo, std::size_t hi, float p, float* dst, std::size_t& nl,
                          std::size_t& ng) {
        const __m512 pv = _mm512_set1_ps(p);
        std::size_t i = lo;
        for (; i + 16 <= hi; i += 16) partition16(_mm512_loadu_ps(src + i), 0xFFFF, pv, dst, nl, ng);
        if (i < hi) {
            const __mmask16 valid = first_lanes(static_cast<unsigned>(hi - i));
            partition16(_mm512_maskz_loadu_ps(valid, src + i), valid, pv, dst, nl, ng);
        }
    }
    // The value whose rank (values under it, plus equal ones before it) is want: mask counts over
    // the range loaded with +inf in the lanes past it (never under a value, never before one).
    static float rank_of(const float* x, std::size_t span, std::size_t want) {
        const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(__builtin_inff()), first_lanes(static_cast<unsigned>(span)), x);
        for (std::size_t i = 0; i + 1 < span; ++i) {
            const __m512 xv = _mm512_set1_ps(x[i]);
            const unsigned lt = _mm512_cmp_ps_mask(v, xv, _CMP_LT_OQ);
            const unsigned eq = _mm512_cmp_ps_mask(v, xv, _CMP_EQ_OQ) & ((1u << i) - 1u);
            if (static_cast<std::size_t>(__builtin_popcount(lt) + __builtin_popcount(eq)) == want) return x[i];
        }
        return x[span - 1];  // (the last one: no other has the rank)
    }
};

}  // namespace

float kth_avx512(float* a, std::size_t n, std::size_t k, float* tmp) {
    return kth_detail::kth_quickselect<Avx512Kth>(a, n, k, tmp);
}

}  // namespace adanns
