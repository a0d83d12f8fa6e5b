#include "graph/sq8.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace adanns {

void sq8_range(const float* x, std::size_t n, std::size_t stride, std::size_t d, float* lo, float* hi) {
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t t = 0; t < d; ++t) {
            lo[t] = std::min(lo[t], x[i * stride + t]);
            hi[t] = std::max(hi[t], x[i * stride + t]);
        }
}

void sq8_steps(float* lo, const float* hi, std::size_t d, std::size_t wide, float* step) {
    for (std::size_t t = 0; t < d; ++t) {
        const float span = hi[t] - lo[t];
        const float s = span / (t < wide ? 65535.f : 255.f);
        step[t] = s > 0.f ? s : 1.f;  // (a zero or tiny span, or no rows: every code 0)
        if (!(lo[t] < std::numeric_limits<float>::infinity())) lo[t] = 0.f;
    }
}

void sq8_fit(const float* x, std::size_t n, std::size_t stride, std::size_t d, std::size_t wide, float* lo,
             float* step) {
    std::fill(lo, lo + d, std::numeric_limits<float>::infinity());
    std::vector<float> hi(d, -std::numeric_limits<float>::infinity());
    sq8_range(x, n, stride, d, lo, hi.data());
    sq8_steps(lo, hi.data(), d, wide, step);
}

void sq8_encode(const float* x, std::size_t d, std::size_t wide, const float* lo, const float* step, uint8_t* c) {
    for (std::size_t t = 0; t < d; ++t) {
        const float top = t < wide ? 65535.f : 255.f;
        float v = std::nearbyint((x[t] - lo[t]) / step[t]);
        v = v < 0.f ? 0.f : (v > top ? top : v);  // (NaN-free: stored rows are checked finite)
        const unsigned u = static_cast<unsigned>(v);
        if (t < wide) {  // little-endian 16-bit code
            c[2 * t] = static_cast<uint8_t>(u & 0xFF);
            c[2 * t + 1] = static_cast<uint8_t>(u >> 8);
        } else {
            c[wide + t] = static_cast<uint8_t>(u);
        }
    }
}

Sq8Query sq8_query(bool l2, const float* q, std::size_t w, std::size_t wide, const float* lo, const float* step,
                   float* qw, float* wg, int16_t* q16) {
    // the query in code space: q * step (ip), or (q - lo) / step with weights step^2 (l2)
    for (std::size_t t = 0; t < w; ++t) {
        if (l2) {
            qw[t] = (q[t] - lo[t]) / step[t];
            wg[t] = step[t] * step[t];
        } else {
            qw[t] = q[t] * step[t];
        }
    }
    Sq8Query s{l2 ? kSq8L2 : kSq8IP, qw, wg, nullptr, 1.f, wide, qw};
    if (!l2) {  // the 8-bit dims' integer query (the 16-bit ones use qw)
        const std::size_t h = std::min(wide, w);
        s.inv_scale = make_sq8_ip_query(qw + h, w - h, q16);
        s.q16 = q16;
    }
    return s;
}

}  // namespace adanns
