#include "common/norms.h"

#include <cmath>

#include "common/parallel.h"

namespace adanns {

float sqnorm(const float* v, std::size_t d) {
    float s = 0.f;
    for (std::size_t t = 0; t < d; ++t) s += v[t] * v[t];
    return s;
}

static double sqnorm_double(const float* v, std::size_t d) {
    double s = 0;
    for (std::size_t t = 0; t < d; ++t) s += double(v[t]) * v[t];
    return s;
}

float l2norm(const float* v, std::size_t d) { return float(std::sqrt(sqnorm_double(v, d))); }

void normalize(const float* v, std::size_t d, float* out) {
    const double s = sqnorm_double(v, d);
    // In double: 1 / norm of a row of denormals exceeds FLT_MAX, its products do not.
    const double inv = s > 0 ? 1.0 / std::sqrt(s) : 0.0;
    for (std::size_t t = 0; t < d; ++t) out[t] = float(double(v[t]) * inv);
}

void normalize_rows(const float* x, std::size_t n, std::size_t d, float* out) {
    parallel_for_chunks(n, 256, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) normalize(x + i * d, d, out + i * d);
    });
}

std::vector<float> row_sqnorms(const float* x, std::size_t k, std::size_t d, std::size_t ld) {
    std::vector<float> nn(k);
    for (std::size_t j = 0; j < k; ++j) nn[j] = sqnorm(x + j * ld, d);
    return nn;
}

}  // namespace adanns
