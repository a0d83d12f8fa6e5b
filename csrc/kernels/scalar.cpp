#include "kernels/distances.h"
#include "kernels/pq_kernels.h"
#include "kernels/scalar_row.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace adanns {

void scan_scalar(int kind, const float* const* qs, std::size_t m, const float* X, std::size_t n,
                 std::size_t stride, std::size_t w, float* out, std::size_t ldo, float* xnorm) {
    for (std::size_t r = 0; r < n; ++r) {
        float nn = 0.f;
        for (std::size_t i = 0; i < m; ++i) out[i * ldo + r] = row_distance(kind, qs[i], X + r * stride, w, &nn);
        if (kind == kScanIPNorm && m > 0) xnorm[r] = nn;
    }
}

void rerank_scalar(int kind, const float* x, const float* const* qs, std::size_t m, std::size_t w, float* out,
                   float* xnorm) {
    float nn = 0.f;
    for (std::size_t i = 0; i < m; ++i) out[i] = row_distance(kind, qs[i], x, w, &nn);
    if (kind == kScanIPNorm && xnorm) *xnorm = nn;  // the row's norm (every query computes the same)
}

void pack_panels(const float* C, std::size_t k, std::size_t d, std::size_t ldc, float* packed) {
    const std::size_t np = panel_count(k);
    for (std::size_t p = 0; p < np; ++p) {
        float* pan = packed + p * d * kPanelWidth;
        const std::size_t j0 = p * kPanelWidth;
        const std::size_t nc = k - j0 < kPanelWidth ? k - j0 : kPanelWidth;
        if (nc < kPanelWidth) std::memset(pan, 0, d * kPanelWidth * sizeof(float));
        for (std::size_t c = 0; c < nc; ++c) {
            const float* row = C + (j0 + c) * ldc;
            for (std::size_t t = 0; t < d; ++t) pan[t * kPanelWidth + c] = row[t];
        }
    }
}

namespace {

// acc[c] = <x[:d], column c of the panel>, one sequential chain per column.
inline void panel_dots_scalar(const float* x, const float* pan, std::size_t d, float* acc) {
    for (std::size_t c = 0; c < kPanelWidth; ++c) acc[c] = 0.f;
    for (std::size_t t = 0; t < d; ++t) {
        const float xv = x[t];
        const float* row = pan + t * kPanelWidth;
        for (std::size_t c = 0; c < kPanelWidth; ++c) acc[c] += xv * row[c];
    }
}

}  // namespace

void gemm_scalar(const float* X, std::size_t n, std::size_t ldx, const float* packed, std::size_t k,
                 std::size_t d, const float* bias, float alpha, float* out, std::size_t ldo) {
    const std::size_t np = panel_count(k);
    float acc[kPanelWidth];
    for (std::size_t i = 0; i < n; ++i) {
        const float* x = X + i * ldx;
        float* o = out + i * ldo;
        for (std::size_t p = 0; p < np; ++p) {
            panel_dots_scalar(x, packed + p * d * kPanelWidth, d, acc);
            const std::size_t j0 = p * kPanelWidth;
            const std::size_t nc = k - j0 < kPanelWidth ? k - j0 : kPanelWidth;
            for (std::size_t c = 0; c < nc; ++c) o[j0 + c] = (bias ? bias[j0 + c] : 0.f) + alpha * acc[c];
        }
    }
}

void gemm_argmin_scalar(const float* X, std::size_t n, std::size_t ldx, const float* packed,
                        std::size_t k, std::size_t d, const float* bias, float alpha, int64_t* best,
                        float* best_dist) {
    const std::size_t np = panel_count(k);
    float acc[kPanelWidth];
    for (std::size_t i = 0; i < n; ++i) {
        const float* x = X + i * ldx;
        std::size_t bj = 0;
        float bd = std::numeric_limits<float>::infinity();
        for (std::size_t p = 0; p < np; ++p) {
            panel_dots_scalar(x, packed + p * d * kPanelWidth, d, acc);
            const std::size_t j0 = p * kPanelWidth;
            const std::size_t nc = k - j0 < kPanelWidth ? k - j0 : kPanelWidth;
            for (std::size_t c = 0; c < nc; ++c) {
                const float dist = (bias ? bias[j0 + c] : 0.f) + alpha * acc[c];
                if (dist < bd) {
                    bd = dist;
                    bj = j0 + c;
                }
            }
        }
        best[i] = static_cast<int64_t>(bj);
        if (best_dist) best_dist[i] = bd;
    }
}

void adc_scalar(const float* lut, const uint8_t* codes, std::size_t ngroups, std::size_t m, float* out) {
    for (std::size_t b = 0; b < ngroups; ++b) {
        const uint8_t* c = codes + b * m * kCodeGroup;
        float acc[kCodeGroup];
        for (std::size_t r = 0; r < kCodeGroup; ++r) acc[r] = 0.f;
        for (std::size_t s = 0; s < m; ++s) {
            const float* L = lut + s * kPQKsub;
            const uint8_t* cs = c + s * kCodeGroup;
            for (std::size_t r = 0; r < kCodeGroup; ++r) acc[r] += L[cs[r]];
        }
        std::memcpy(out + b * kCodeGroup, acc, sizeof(acc));
    }
}

void add_scalar(const float* a, const float* b, std::size_t n, float* out) {
    for (std::size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

// Branch-free: every index is written, the count advances when it qualifies.
std::size_t select_le_scalar(const float* d, std::size_t n, float thr, uint32_t* out) {
    std::size_t m = 0;
    for (std::size_t r = 0; r < n; ++r) {
        out[m] = static_cast<uint32_t>(r);
        m += d[r] <= thr ? 1 : 0;
    }
    return m;
}

// Branch-free partitions, in place (tmp unused); a buffer that was compacted before holds its
// kept entries partitioned, a pattern on which std::nth_element degrades.
float kth_scalar(float* a, std::size_t n, std::size_t k, float*) {
    std::size_t lo = 0, hi = n;
    for (;;) {
        if (hi - lo <= 16) {
            for (std::size_t i = lo + 1; i < hi; ++i) {
                const float x = a[i];
                std::size_t j = i;
                for (; j > lo && a[j - 1] > x; --j) a[j] = a[j - 1];
                a[j] = x;
            }
            return a[k];
        }
        const std::size_t span = hi - lo;
        const float x0 = a[lo + span / 4], x1 = a[lo + span / 2], x2 = a[lo + 3 * span / 4];
        const float p = std::max(std::min(x0, x1), std::min(std::max(x0, x1), x2));
        std::size_t j = lo;  // [lo, j): < p
        for (std::size_t i = lo; i < hi; ++i) {
            const float x = a[i];
            a[i] = a[j];
            a[j] = x;
            j += x < p ? 1 : 0;
        }
        if (k < j) {
            hi = j;
            continue;
        }
        std::size_t e = j;  // [j, e): == p
        for (std::size_t i = j; i < hi; ++i) {
            const float x = a[i];
            a[i] = a[e];
            a[e] = x;
            e += x == p ? 1 : 0;
        }
        if (k < e) return p;
        lo = e;
    }
}

}  // namespace adanns
