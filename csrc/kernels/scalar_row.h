// Portable one-row distance of the scan kinds, shared by the scalar scan (kernels/scalar.cpp)
// and the scalar graph gather (graph/gather.cpp). Include only from portable units (internal
// linkage: an AVX2 unit's copy can never replace it).
#pragma once
#include <cstddef>

#include "kernels/distances.h"

namespace adanns {
namespace {

// Distance part of `kind` between q and x over w dims; for kScanIPNorm also *nn = |x|^2.
inline float row_distance(int kind, const float* q, const float* x, std::size_t w, float* nn) {
    float s = 0.f;
    if (kind == kScanL2) {
        for (std::size_t j = 0; j < w; ++j) {
            const float d = q[j] - x[j];
            s += d * d;
        }
        return s;
    }
    float n2 = 0.f;
    for (std::size_t j = 0; j < w; ++j) {
        s += q[j] * x[j];
        n2 += x[j] * x[j];
    }
    if (kind == kScanIPNorm) *nn = n2;
    return s;
}

}  // namespace
}  // namespace adanns
