// The three-stage search of IVFCore: coarse probe on the coarse prefix, scan of the
// probed lists on the scan prefix, exact rerank of the short list on rerank_dim.
//
// Queries are processed in chunks (one chunk per task, OpenMP over chunks). Within a
// chunk the work is inverted: for each probed list, every query of the chunk that
// probes it is scanned against that list while the list's row tile sits in cache,
// so a list is streamed from memory once per chunk instead of once per query.
#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>

#include "distances.h"
#include "list_groups.h"
#include "ivf.h"
#include "parallel.h"
#include "topk.h"

namespace adanns {

namespace {

inline int64_t make_label(std::size_t list, std::size_t row) {
    return static_cast<int64_t>((static_cast<uint64_t>(list) << 32) | static_cast<uint64_t>(row));
}
inline std::size_t label_list(int64_t lab) { return static_cast<std::size_t>(static_cast<uint64_t>(lab) >> 32); }
inline std::size_t label_row(int64_t lab) { return static_cast<std::size_t>(static_cast<uint64_t>(lab) & 0xffffffffull); }

float prefix_norm(const float* q, std::size_t d) {
    double s = 0;
    for (std::size_t t = 0; t < d; ++t) s += double(q[t]) * q[t];
    return float(std::sqrt(s));
}

// Distance kind and finaliser for one stage at prefix length d.
struct StageMetric {
    int kind;          // ScanKind
    bool negate;       // IP-like: internal distance = -similarity
    bool use_norm;     // cosine on a prefix shorter than dim: divide by ||x[:d]||

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

}  // namespace

void IVFCore::coarse_probe(const float* q, std::size_t nq, std::size_t nprobe, std::size_t probe_dim,
                           int64_t* probes) const {
    if (nlist_ == 1) {
        std::fill(probes, probes + nq * nprobe, int64_t(0));
        return;
    }
    if (nq == 0) return;
    // Distances of a chunk of queries to all centroids in GEMM form on packed centroid
    // panels: L2 ||c||^2 - 2 q.c, IP / cosine -q.c (the same arithmetic as assign_nearest).
    // Probing on a shorter prefix than coarse_dim (AdANNS-IVF-D) packs the centroid prefixes
    // for this call: L2 on the prefix, IP on the prefix, cosine on the normalised prefix.
    const std::size_t pd = probe_dim == 0 ? coarse_dim_ : probe_dim;
    std::vector<float> prefix_packed, prefix_norms;
    const float* packed = packed_centroids_.data();
    const float* norms = centroid_norms_.data();
    if (pd < coarse_dim_) {
        std::vector<float> c(nlist_ * pd);
        prefix_norms.resize(nlist_);
        for (std::size_t j = 0; j < nlist_; ++j) {
            const float* src = centroids_.data() + j * coarse_dim_;
            float s2 = 0.f;
            for (std::size_t t = 0; t < pd; ++t) s2 += src[t] * src[t];
            const float scale = metric_ == kMetricCosine && s2 > 0.f ? 1.f / std::sqrt(s2) : 1.f;
            for (std::size_t t = 0; t < pd; ++t) c[j * pd + t] = src[t] * scale;
            prefix_norms[j] = s2;
        }
        prefix_packed.resize(packed_size(nlist_, pd));
        pack_panels(c.data(), nlist_, pd, pd, prefix_packed.data());
        packed = prefix_packed.data();
        norms = prefix_norms.data();
    }
    top_nearest(q, nq, dim_, packed, norms, nlist_, pd, metric_ != kMetricL2, nprobe, probes);
}

void IVFCore::search(const float* xq, std::size_t nq, const SearchParams& p, float* D, int64_t* I) const {
    if (p.k == 0) throw std::invalid_argument("k must be >= 1");
    if (p.nprobe == 0 || p.nprobe > nlist_) throw std::invalid_argument("nprobe must be in 1..nlist");
    if (p.scan_dim == 0 || p.scan_dim > dim_) throw std::invalid_argument("scan_dim must be in 1..dim");
    if (p.probe_dim > coarse_dim_) throw std::invalid_argument("probe_dim must be in 1..coarse_dim");
    if (p.rerank_k > 0 && (p.rerank_dim == 0 || p.rerank_dim > dim_))
        throw std::invalid_argument("rerank_dim must be in 1..dim");
    std::vector<float> normed;
    if (metric_ == kMetricCosine) {
        normed.resize(nq * dim_);
        parallel_for_chunks(nq, 256, [&](std::size_t b, std::size_t e) {
            for (std::size_t i = b; i < e; ++i) {
                const float nrm = prefix_norm(xq + i * dim_, dim_);
                const float inv = nrm > 0.f ? 1.f / nrm : 0.f;
                for (std::size_t t = 0; t < dim_; ++t) normed[i * dim_ + t] = xq[i * dim_ + t] * inv;
            }
        });
        xq = normed.data();
    }
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained before search");
    search_locked(xq, nq, p, D, I);
}

void IVFCore::probe(const float* xq, std::size_t nq, std::size_t nprobe, std::size_t probe_dim,
                    int64_t* probes) const {
    if (nprobe == 0 || nprobe > nlist_) throw std::invalid_argument("nprobe must be in 1..nlist");
    if (probe_dim > coarse_dim_) throw std::invalid_argument("probe_dim must be in 1..coarse_dim");
    std::vector<float> normed;
    if (metric_ == kMetricCosine) {  // probing is scale-invariant per query; normalise like search
        normed.assign(xq, xq + nq * dim_);
        for (std::size_t i = 0; i < nq; ++i) {
            const float nrm = prefix_norm(xq + i * dim_, dim_);
            if (nrm > 0.f)
                for (std::size_t t = 0; t < dim_; ++t) normed[i * dim_ + t] /= nrm;
        }
        xq = normed.data();
    }
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained before probe");
    coarse_probe(xq, nq, nprobe, probe_dim, probes);
}

void IVFCore::search_locked(const float* xq, std::size_t nq, const SearchParams& p, float* D,
                            int64_t* I) const {
    const std::size_t k = p.k;
    const bool rerank = p.rerank_k > 0;
    const std::size_t K1 = rerank ? std::max(k, p.rerank_k) : k;
    const std::size_t nprobe = p.nprobe;
    const std::size_t sd = p.scan_dim;
    const std::size_t rd = rerank ? p.rerank_dim : sd;
    const StageMetric scan_m(metric_, sd, dim_);
    const StageMetric rerank_m(metric_, rd, dim_);
    const ScanFn scan = kernels().scan;
    const std::size_t nb_scan = (sd + kBlockDim - 1) / kBlockDim;
    const std::size_t nb_rerank = (rd + kBlockDim - 1) / kBlockDim;

    std::vector<int64_t> probes(nq * nprobe);
    coarse_probe(xq, nq, nprobe, p.probe_dim, probes.data());

    // Row tiles of about 128 KiB of scanned data stay in L2 while all queries of the
    // chunk that probe the list go over them.
    const std::size_t tile = std::max<std::size_t>(32, (128 * 1024) / (4 * sd));
    const std::size_t nthreads = static_cast<std::size_t>(max_threads());
    std::size_t chunk = std::max<std::size_t>(
        1, std::min<std::size_t>(4096, std::max<std::size_t>((nq + 4 * nthreads - 1) / (4 * nthreads),
                                                             std::min<std::size_t>(nq, 256))));
    // Bound the per-chunk candidate buffers (chunk x 2 K1 entries of 16 bytes) to about 64 MiB.
    chunk = std::max<std::size_t>(1, std::min(chunk, (std::size_t(64) << 20) / (32 * K1)));

    parallel_for_chunks(nq, chunk, [&](std::size_t qb, std::size_t qe) {
        const std::size_t cq = qe - qb;
        std::vector<Candidate> cand(cq * 2 * K1);
        std::vector<TopKBuffer> heaps;
        heaps.reserve(cq);
        for (std::size_t j = 0; j < cq; ++j) heaps.emplace_back(cand.data() + j * 2 * K1, K1);

        const ListGroups groups = group_by_list(probes.data() + qb * nprobe, cq, nprobe, nlist_);
        const std::vector<std::size_t>& start = groups.start;
        const std::vector<uint32_t>& members = groups.members;

        std::vector<float> acc(tile), accn(tile);
        for (std::size_t l = 0; l < nlist_; ++l) {
            if (start[l + 1] == start[l]) continue;
            const std::size_t n = lists_.list_size(l);
            for (std::size_t r0 = 0; r0 < n; r0 += tile) {
                const std::size_t t = std::min(tile, n - r0);
                for (std::size_t m = start[l]; m < start[l + 1]; ++m) {
                    const std::size_t j = members[m];
                    const float* q = xq + (qb + j) * dim_;
                    std::fill(acc.begin(), acc.begin() + t, 0.f);
                    if (scan_m.use_norm) std::fill(accn.begin(), accn.begin() + t, 0.f);
                    for (std::size_t b = 0; b < nb_scan; ++b) {
                        const std::size_t bw = lists_.block_width(b);
                        const std::size_t w = std::min(bw, sd - lists_.block_begin(b));
                        scan(scan_m.kind, q + lists_.block_begin(b), lists_.block(l, b) + r0 * bw, t, bw, w,
                             acc.data(), accn.data());
                    }
                    TopKBuffer& h = heaps[j];
                    float thr = h.threshold();
                    for (std::size_t i = 0; i < t; ++i) {
                        const float dist = scan_m.finish(acc[i], accn[i]);
                        if (dist <= thr) {
                            h.push(dist, make_label(l, r0 + i));
                            thr = h.threshold();
                        }
                    }
                }
            }
        }

        for (std::size_t j = 0; j < cq; ++j) {
            const float* q = xq + (qb + j) * dim_;
            const std::size_t found = heaps[j].finalize();
            Candidate* c = heaps[j].data();
            if (rerank) {
                for (std::size_t i = 0; i < found; ++i) {
                    const std::size_t l = label_list(c[i].label), r = label_row(c[i].label);
                    float a = 0.f, an = 0.f;
                    for (std::size_t b = 0; b < nb_rerank; ++b) {
                        const std::size_t bw = lists_.block_width(b);
                        const std::size_t w = std::min(bw, rd - lists_.block_begin(b));
                        scan(rerank_m.kind, q + lists_.block_begin(b), lists_.block(l, b) + r * bw, 1, bw, w, &a, &an);
                    }
                    c[i].d = rerank_m.finish(a, an);
                }
                std::sort(c, c + found);
            }
            // Output conventions: L2 squared distances ascending; IP / cosine similarities descending.
            float qscale = 1.f;
            if (metric_ == kMetricCosine && rd < dim_) {
                const float qn = prefix_norm(q, rd);
                qscale = qn > 0.f ? 1.f / qn : 0.f;
            }
            const float missing = metric_ == kMetricL2 ? std::numeric_limits<float>::infinity()
                                                       : -std::numeric_limits<float>::infinity();
            float* Dq = D + (qb + j) * k;
            int64_t* Iq = I + (qb + j) * k;
            for (std::size_t i = 0; i < k; ++i) {
                if (c[i].label < 0) {
                    Dq[i] = missing;
                    Iq[i] = -1;
                    continue;
                }
                Dq[i] = metric_ == kMetricL2 ? c[i].d : -c[i].d * qscale;
                Iq[i] = lists_.ids(label_list(c[i].label))[label_row(c[i].label)];
            }
        }
    });
}

}  // namespace adanns
