// The one metric enum of the core, and the per-stage distance convention.
//
// Internally every stage ranks by a distance where smaller is better: L2 squared distance,
// or the negated similarity for inner product and cosine. Cosine data (and queries) are stored
// normalised at full dimension; a stage working on a prefix d < dim divides by ||x[:d]||
// (AdANNS prefix cosine), which the scan kernels accumulate alongside the dot product.
#pragma once
#include <cmath>
#include <cstddef>

#include "kernels/distances.h"

namespace adanns {

enum Metric : int { kMetricL2 = 0, kMetricIP = 1, kMetricCosine = 2 };

inline bool valid_metric(int m) { return m >= kMetricL2 && m <= kMetricCosine; }

// Distance kind and finaliser for one stage at prefix length d of dim.
struct StageMetric {
    int kind;       // ScanKind
    bool negate;    // IP-like: internal distance = -similarity
    bool use_norm;  // cosine on a prefix shorter than dim: divide by ||x[:d]||

    StageMetric(int metric, std::size_t d, std::size_t dim)
        : kind(metric == kMetricL2 ? kScanL2 : (metric == kMetricCosine && d < dim ? kScanIPNorm : kScanIP)),
          negate(metric != kMetricL2),
          use_norm(metric == kMetricCosine && d < dim) {}

    float finish(float acc, float accn) const {
        if (!negate) return acc;
        if (use_norm) return accn > 0.f ? -acc / std::sqrt(accn) : 0.f;
        return -acc;
    }
};

}  // namespace adanns
