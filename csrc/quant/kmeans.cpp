#include "quant/kmeans.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "common/norms.h"
#include "kernels/kernels.h"
#include "common/parallel.h"
#include "common/topk.h"

namespace adanns {

std::vector<std::size_t> sample_indices(std::size_t n, std::size_t m, uint64_t seed) {
    if (m > n) throw std::invalid_argument("sample larger than population");
    std::vector<std::size_t> perm(n);
    std::iota(perm.begin(), perm.end(), std::size_t(0));
    Rng rng(seed);
    for (std::size_t i = 0; i < m; ++i) {
        const std::size_t j = i + rng.below(n - i);
        std::swap(perm[i], perm[j]);
    }
    perm.resize(m);
    std::sort(perm.begin(), perm.end());
    return perm;
}

void assign_nearest(const float* x, std::size_t n, std::size_t ldx, const float* centroids,
                    std::size_t k, std::size_t d, bool ip, int64_t* out, float* out_dist) {
    if (n == 0) return;
    // L2: argmin ||c||^2 - 2 x.c ; IP: argmin -x.c. GEMM form on packed centroid panels
    // (k * d floats, L2-resident for the usual nlist), fused argmin, ties to the lower index.
    const std::vector<float> cn = ip ? std::vector<float>() : row_sqnorms(centroids, k, d, d);
    std::vector<float> packed(packed_size(k, d));
    pack_panels(centroids, k, d, d, packed.data());
    const GemmArgminFn argmin = kernels().gemm_argmin;
    const float* bias = ip ? nullptr : cn.data();
    const float alpha = ip ? -1.f : -2.f;
    parallel_for_chunks(n, 240, [&](std::size_t begin, std::size_t end) {
        argmin(x + begin * ldx, end - begin, ldx, packed.data(), k, d, bias, alpha, out + begin,
               out_dist ? out_dist + begin : nullptr);
    });
}

void top_nearest(const float* x, std::size_t n, std::size_t ldx, const float* packed, const float* norms,
                 std::size_t k, std::size_t d, bool ip, std::size_t nprobe, int64_t* out) {
    const Kernels& kt = kernels();
    const GemmFn gemm = kt.gemm;
    const KthFn kth = kt.kth;
    const float* bias = ip ? nullptr : norms;
    const float alpha = ip ? -1.f : -2.f;
    // Queries per task: 48, whole register blocks of both GEMM forms (AVX-512: 6 x 8; AVX2: 8 x 6)
    // that share each centroid panel. Chunks of 16 ran a 12-point and a 4-point block per
    // panel: 0.87-0.91x the coarse stage's time at probe_dim 128 / 384 with 48 (1,233 centroids).
    parallel_for_chunks(n, 48, [&](std::size_t b, std::size_t e) {
        std::vector<float> dist((e - b) * k);
        gemm(x + b * ldx, e - b, ldx, packed, k, d, bias, alpha, dist.data(), k);
        // Top-nprobe by (distance, index): batched selection (TopKBuffer's pushes; most centroids
        // are rejected by the selection kernel's SIMD compares). NaN / inf distances rank last.
        // The threshold starts at the nprobe-th smallest of the minima of the blocks of 8: nprobe
        // distances are at or under it, so the selection stays exact, and it is tight enough that
        // few blocks pass the test (about 2 us less thread time per query for nprobe 28 of 1,233 lists
        // on a 128-dim prefix, where the selection had cost more than the GEMM).
        constexpr std::size_t kBlock = 8;
        const std::size_t nblocks = k / kBlock;
        std::vector<Candidate> buf(2 * nprobe);
        std::vector<float> scratch(4 * nprobe), mins(nblocks), mins_tmp(nblocks);
        constexpr float kInf = std::numeric_limits<float>::infinity(), kMax = std::numeric_limits<float>::max();
        for (std::size_t i = b; i < e; ++i) {
            float* acc = dist.data() + (i - b) * k;
            for (std::size_t j = 0; j < k; ++j) acc[j] = acc[j] < kInf ? acc[j] : kMax;  // (branch-free)
            TopKBuffer top(buf.data(), nprobe, scratch.data(), kt.select, kth);
            if (nprobe <= nblocks) {
                for (std::size_t g = 0; g < nblocks; ++g) {
                    float v = acc[g * kBlock];
                    for (std::size_t j = 1; j < kBlock; ++j) v = acc[g * kBlock + j] < v ? acc[g * kBlock + j] : v;
                    mins[g] = v;
                }
                top.bound(kth(mins.data(), nblocks, nprobe - 1, mins_tmp.data()));
            }
            top.push_run(acc, k, 0);
            const std::size_t got = top.finalize();
            for (std::size_t j = 0; j < nprobe; ++j) out[i * nprobe + j] = j < got ? buf[j].label : -1;
        }
    });
}

static void init_kmeanspp(const float* x, std::size_t n, std::size_t d, std::size_t k, Rng& rng,
                          float* c) {
    std::vector<float> best(n, std::numeric_limits<float>::infinity());
    std::size_t first = rng.below(n);
    std::copy(x + first * d, x + (first + 1) * d, c);
    for (std::size_t j = 1; j < k; ++j) {
        const float* cj = c + (j - 1) * d;
        parallel_for_chunks(n, 1024, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) {
                float s = 0.f;
                for (std::size_t t = 0; t < d; ++t) {
                    const float diff = x[i * d + t] - cj[t];
                    s += diff * diff;
                }
                best[i] = std::min(best[i], s);
            }
        });
        double total = 0;
        for (std::size_t i = 0; i < n; ++i) total += best[i];
        std::size_t pick = rng.below(n);
        if (total > 0) {
            double r = rng.uniform() * total;
            for (std::size_t i = 0; i < n; ++i) {
                r -= best[i];
                if (r <= 0) {
                    pick = i;
                    break;
                }
            }
        }
        std::copy(x + pick * d, x + (pick + 1) * d, c + j * d);
    }
}

std::vector<float> kmeans_train(const float* x_in, std::size_t n_in, std::size_t d,
                                const KMeansParams& p) {
    const std::size_t k = p.k;
    if (k == 0 || d == 0) throw std::invalid_argument("k-means needs k >= 1 and d >= 1");
    if (n_in < k) throw std::invalid_argument("k-means needs at least k training points");
    Rng rng(p.seed);

    // Training sample, capped at max_points_per_centroid * k rows.
    std::vector<float> sample;
    const float* x = x_in;
    std::size_t n = n_in;
    if (p.max_points_per_centroid > 0 && n_in > k * p.max_points_per_centroid) {
        n = k * p.max_points_per_centroid;
        const std::vector<std::size_t> idx = sample_indices(n_in, n, rng.next());
        sample.resize(n * d);
        for (std::size_t i = 0; i < n; ++i)
            std::copy(x_in + idx[i] * d, x_in + (idx[i] + 1) * d, sample.data() + i * d);
        x = sample.data();
    }

    std::vector<float> c(k * d);
    if (p.kmeanspp) {
        init_kmeanspp(x, n, d, k, rng, c.data());
    } else {
        const std::vector<std::size_t> idx = sample_indices(n, k, rng.next());
        for (std::size_t j = 0; j < k; ++j)
            std::copy(x + idx[j] * d, x + (idx[j] + 1) * d, c.data() + j * d);
    }
    if (p.spherical) normalize_rows(c.data(), k, d, c.data());

    std::vector<int64_t> assign(n);
    std::vector<double> sums(k * d);
    std::vector<std::size_t> counts(k);
    std::vector<std::size_t> start(k + 1), pos(k), order(n);
    for (int it = 0; it < p.niter; ++it) {
        cancel_point();
        assign_nearest(x, n, d, c.data(), k, d, p.spherical, assign.data());
        std::fill(sums.begin(), sums.end(), 0.0);
        // Points grouped by centroid (stable counting sort), then each thread owns a range
        // of centroids and sums their points in increasing point order: no shared writes,
        // deterministic sums, one pass over the data.
        std::fill(start.begin(), start.end(), 0);
        for (std::size_t i = 0; i < n; ++i) ++start[static_cast<std::size_t>(assign[i]) + 1];
        for (std::size_t j = 0; j < k; ++j) start[j + 1] += start[j];
        std::copy(start.begin(), start.end() - 1, pos.begin());
        for (std::size_t i = 0; i < n; ++i) order[pos[static_cast<std::size_t>(assign[i])]++] = i;
        parallel_for_chunks(k, 16, [&](std::size_t cb, std::size_t ce) {
            for (std::size_t a = cb; a < ce; ++a) {
                counts[a] = start[a + 1] - start[a];
                double* s = sums.data() + a * d;
                for (std::size_t m = start[a]; m < start[a + 1]; ++m) {
                    const float* xi = x + order[m] * d;
                    for (std::size_t t = 0; t < d; ++t) s[t] += xi[t];
                }
            }
        });
        for (std::size_t j = 0; j < k; ++j) {
            if (counts[j] == 0) continue;
            const double inv = 1.0 / double(counts[j]);
            for (std::size_t t = 0; t < d; ++t) c[j * d + t] = float(sums[j * d + t] * inv);
        }
        // Empty clusters: split a large cluster (probability proportional to size), as Faiss does.
        for (std::size_t j = 0; j < k; ++j) {
            if (counts[j] != 0) continue;
            std::size_t big = 0;
            for (;;) {
                big = rng.below(k);
                const double pr = double(counts[big] > 1 ? counts[big] - 1 : 0) / double(n - k + 1);
                if (rng.uniform() < pr) break;
            }
            std::copy(c.begin() + big * d, c.begin() + (big + 1) * d, c.begin() + j * d);
            const float eps = 1.f / 1024.f;
            for (std::size_t t = 0; t < d; ++t) {
                const float sgn = (t % 2 == 0) ? 1.f : -1.f;
                c[j * d + t] *= 1.f + sgn * eps;
                c[big * d + t] *= 1.f - sgn * eps;
            }
            counts[j] = counts[big] / 2;
            counts[big] -= counts[j];
        }
        if (p.spherical) normalize_rows(c.data(), k, d, c.data());
    }
    return c;
}

}  // namespace adanns
