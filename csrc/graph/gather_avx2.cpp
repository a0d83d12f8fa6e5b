// AVX2/FMA gather kernel (compiled with -mavx2 -mfma; no STL templates in this unit).
#include <immintrin.h>
#include <stdint.h>

#include "common/prefetch.h"
#include "kernels/avx2/simd.h"
#include "kernels/distances.h"
#include "gather_kernels.h"

namespace adanns {
namespace {

using avx2::hsum4;
using avx2::step;
using avx2::tail_mask;

// The gathers' one loop over blocks of four rows: fetches rows i+4 .. i+7 (beyond their first
// line, which the caller fetched; row_bytes read of each) while rows i .. i+3 compute, then calls
// block(x, i, m) with the pointers of the current four rows (the first repeated past n) and the
// number m <= 4 of them that are real.
template <class T, class Block>
inline void for_rows4(const T* base, std::size_t stride, const uint32_t* idx, std::size_t n, std::size_t row_bytes,
                      Block block) {
    const T* x[4];
    for (std::size_t i = 0; i < n; i += 4) {
        for (std::size_t r = i + 4; r < i + 8 && r < n; ++r) {
            prefetch_span(base + static_cast<std::size_t>(idx[r]) * stride, row_bytes, true);
        }
        const std::size_t m = n - i < 4 ? n - i : 4;
        for (std::size_t r = 0; r < 4; ++r) x[r] = base + static_cast<std::size_t>(idx[i + (r < m ? r : 0)]) * stride;
        block(x, i, m);
    }
}

// Four rows at a time: four independent FMA chains hide the FMA latency.
template <int KIND>
void gather_impl(const float* q, const float* base, std::size_t stride, const uint32_t* idx, std::size_t n,
                 std::size_t w, float* out, float* out_norm) {
    const std::size_t nfull = w / 8;
    const std::size_t rem = w % 8;
    const __m256i mask = tail_mask(rem);
    const __m256 qtail = rem ? _mm256_maskload_ps(q + nfull * 8, mask) : _mm256_setzero_ps();
    for_rows4(base, stride, idx, n, w * sizeof(float), [&](const float* const* x, std::size_t i, std::size_t m) {
        __m256 a[4], nn[4];
        for (int r = 0; r < 4; ++r) {
            a[r] = _mm256_setzero_ps();
            nn[r] = _mm256_setzero_ps();
        }
        for (std::size_t c = 0; c < nfull; ++c) {
            const __m256 qv = _mm256_loadu_ps(q + c * 8);
            for (int r = 0; r < 4; ++r) step<KIND>(qv, _mm256_loadu_ps(x[r] + c * 8), a[r], nn[r]);
        }
        if (rem)
            for (int r = 0; r < 4; ++r) step<KIND>(qtail, _mm256_maskload_ps(x[r] + nfull * 8, mask), a[r], nn[r]);
        float tmp[4], tmpn[4];
        _mm_storeu_ps(tmp, hsum4(a[0], a[1], a[2], a[3]));
        if (KIND == kScanIPNorm) _mm_storeu_ps(tmpn, hsum4(nn[0], nn[1], nn[2], nn[3]));
        for (std::size_t r = 0; r < m; ++r) {
            out[i + r] = tmp[r];
            if (KIND == kScanIPNorm) out_norm[i + r] = tmpn[r];
        }
    });
}

// The 16-bit leading dims of four rows (gather_kernels.h): per row, the float sum over its hw
// wide dims of qhi[j] * c_j (kSq8IP) or wgt[j] * (q[j] - c_j)^2 (kSq8L2). One step of eight
// when hw == 8 (the usual case), a scalar loop otherwise.
template <int KIND>
inline __m128 wide_dims4(const Sq8Query& sq, const uint8_t* const* x, std::size_t hw) {
    if (hw == 8) {
        __m256 a[4];
        const __m256 qv = _mm256_loadu_ps(KIND == kSq8IP ? sq.qhi : sq.q);
        const __m256 wv = KIND == kSq8IP ? _mm256_setzero_ps() : _mm256_loadu_ps(sq.wgt);
        for (int r = 0; r < 4; ++r) {
            const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[r]));
            const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu16_epi32(h));
            if (KIND == kSq8IP) {
                a[r] = _mm256_mul_ps(qv, v);
            } else {
                const __m256 d = _mm256_sub_ps(qv, v);
                a[r] = _mm256_mul_ps(_mm256_mul_ps(d, d), wv);
            }
        }
        return hsum4(a[0], a[1], a[2], a[3]);
    }
    return _mm_setr_ps(sq8_wide_term(sq, x[0], hw), sq8_wide_term(sq, x[1], hw), sq8_wide_term(sq, x[2], hw),
                       sq8_wide_term(sq, x[3], hw));
}

// kSq8L2: weighted squared differences in float32, 8 codes per step.
void gather_sq8_l2(const Sq8Query& sq, const uint8_t* base, std::size_t stride, const uint32_t* idx, std::size_t n,
                   std::size_t w, float* out) {
    const std::size_t hw = w < sq.wide ? w : sq.wide, off = 2 * sq.wide;
    const std::size_t lw = w - hw, nfull = lw / 8;
    const float* q = sq.q + hw;  // the 8-bit dims
    const float* wgt = sq.wgt + hw;
    for_rows4(base, stride, idx, n, off + lw, [&](const uint8_t* const* x, std::size_t i, std::size_t m) {
        __m256 a[4];
        for (int r = 0; r < 4; ++r) a[r] = _mm256_setzero_ps();
        for (std::size_t c = 0; c < nfull; ++c) {
            const __m256 qv = _mm256_loadu_ps(q + c * 8);
            const __m256 wv = _mm256_loadu_ps(wgt + c * 8);
            for (int r = 0; r < 4; ++r) {
                const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x[r] + off + c * 8));
                const __m256 d = _mm256_sub_ps(qv, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)));
                a[r] = _mm256_fmadd_ps(_mm256_mul_ps(d, d), wv, a[r]);
            }
        }
        float tmp[4], hi[4];
        _mm_storeu_ps(tmp, hsum4(a[0], a[1], a[2], a[3]));
        _mm_storeu_ps(hi, wide_dims4<kSq8L2>(sq, x, hw));
        for (std::size_t r = 0; r < m; ++r) {
            float s = tmp[r];
            for (std::size_t j = nfull * 8; j < lw; ++j) {  // tail: fewer than 8 codes
                const float d = q[j] - float(x[r][off + j]);
                s += wgt[j] * (d * d);
            }
            out[i + r] = s + hi[r];
        }
    });
}

// kSq8IP: exact 32-bit integer sums of q16 * code over the 8-bit dims, 16 codes per step
// (zero-extend to 16 bits, multiply-add pairs; bit-identical to the scalar kernel), plus the
// wide dims in float.
void gather_sq8_ip(const Sq8Query& sq, const uint8_t* base, std::size_t stride, const uint32_t* idx, std::size_t n,
                   std::size_t w, float* out) {
    const std::size_t hw = w < sq.wide ? w : sq.wide, off = 2 * sq.wide;
    const std::size_t lw = w - hw, nfull = lw / 16;
    const int16_t* q16 = sq.q16;
    for_rows4(base, stride, idx, n, off + lw, [&](const uint8_t* const* x, std::size_t i, std::size_t m) {
        __m256i a[4];
        for (int r = 0; r < 4; ++r) a[r] = _mm256_setzero_si256();
        for (std::size_t c = 0; c < nfull; ++c) {
            const __m256i qv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q16 + c * 16));
            for (int r = 0; r < 4; ++r) {
                const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[r] + off + c * 16));
                a[r] = _mm256_add_epi32(a[r], _mm256_madd_epi16(_mm256_cvtepu8_epi16(b), qv));
            }
        }
        const __m256i ab = _mm256_hadd_epi32(a[0], a[1]);
        const __m256i cd = _mm256_hadd_epi32(a[2], a[3]);
        const __m256i abcd = _mm256_hadd_epi32(ab, cd);
        alignas(16) int32_t tmp[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(tmp),
                        _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1)));
        float hi[4];
        _mm_storeu_ps(hi, wide_dims4<kSq8IP>(sq, x, hw));
        for (std::size_t r = 0; r < m; ++r) {
            int32_t s = tmp[r];
            for (std::size_t j = nfull * 16; j < lw; ++j) s += int32_t(q16[j]) * int32_t(x[r][off + j]);  // tail
            out[i + r] = float(s) * sq.inv_scale + hi[r];
        }
    });
}

}  // namespace

void gather_sq8_avx2(const Sq8Query& q, const uint8_t* base, std::size_t stride, const uint32_t* idx,
                     std::size_t n, std::size_t w, float* out) {
    if (q.kind == kSq8IP)
        gather_sq8_ip(q, base, stride, idx, n, w, out);
    else
        gather_sq8_l2(q, base, stride, idx, n, w, out);
}

void gather_avx2(int kind, const float* q, const float* base, std::size_t stride, const uint32_t* idx,
                 std::size_t n, std::size_t w, float* out, float* out_norm) {
    if (kind == kScanL2)
        gather_impl<kScanL2>(q, base, stride, idx, n, w, out, out_norm);
    else if (kind == kScanIP)
        gather_impl<kScanIP>(q, base, stride, idx, n, w, out, out_norm);
    else
        gather_impl<kScanIPNorm>(q, base, stride, idx, n, w, out, out_norm);
}

}  // namespace adanns
