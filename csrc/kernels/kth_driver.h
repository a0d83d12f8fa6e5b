// The quickselect of the SIMD kth kernels (kernels/distances.h, KthKernel), shared by their forms
// (kernels/avx2/select_avx2.cpp, kernels/avx512/select_avx512.cpp): the median of three samples
// spread over the range as pivot; each step partitions the range out of place, from one buffer
// to the other (a and tmp in turn), values under the pivot to the front of the range, values
// over it to its back, and drops the values equal to it (the rank falls among them, or the
// range shrinks); a range of 16 or fewer is settled by ranks. A form supplies
//   struct K {
//       // src[lo, hi) under p to dst[nl...), over p to dst[...ng) (nl = lo, ng = hi on entry)
//       static void partition(const float* src, std::size_t lo, std::size_t hi, float p, float* dst,
//                             std::size_t& nl, std::size_t& ng);
//       // the value of rank `want` among x[0, span), span <= 16
//       static float rank_of(const float* x, std::size_t span, std::size_t want);
//   };
// Included only by SIMD units: everything here has internal linkage, so no unit's copy (compiled
// for its own ISA) can replace another's. No STL.
#pragma once
#include <cstddef>

namespace adanns {
namespace kth_detail {
namespace {

template <class K>
float kth_quickselect(float* a, std::size_t n, std::size_t k, float* tmp) {
    float* src = a;
    float* dst = tmp;
    std::size_t lo = 0, hi = n;
    for (;;) {
        const std::size_t span = hi - lo;
        if (span <= 16) return K::rank_of(src + lo, span, k - lo);
        const float x0 = src[lo + span / 4], x1 = src[lo + span / 2], x2 = src[lo + 3 * span / 4];
        const float mn = x0 < x1 ? x0 : x1, mx = x0 < x1 ? x1 : x0;
        const float m2 = mx < x2 ? mx : x2;
        const float p = mn > m2 ? mn : m2;  // the median of the three
        std::size_t nl = lo, ng = hi;      // dst: [lo, nl) under p, [ng, hi) over p
        K::partition(src, lo, hi, p, dst, nl, ng);
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

}  // namespace
}  // namespace kth_detail
}  // namespace adanns
