// The three-stage search of IVFCore: coarse probe on the coarse prefix, scan of the
// probed lists on the scan prefix, exact rerank of the shortlist on rerank_dim. The scan and
// rerank run in the shared list-major batch driver (ivf/batch_driver.h) with the float-row
// scanner below.
#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>

#include "common/norms.h"
#include "common/parallel.h"
#include "ivf/sq8_blocks.h"
#include "ivf/batch_driver.h"
#include "ivf/ivf.h"
#include "kernels/kernels.h"

namespace adanns {

namespace {

// Scanner of float rows (IVF-Flat): prefix scan of scan_dim dims of each row, row stride dim.
// A tile is scored against all member queries of the call by one tile-form kernel call (the
// rows read once for all of them).
struct FlatScanner {
    static constexpr bool kFilterSpans = true;
    static constexpr std::size_t kMembersPerCall = 16;
    const InvertedLists& lists;
    const float* xq;  // the batch's queries (nq x dim)
    std::size_t dim, scan_dim, tile;
    StageMetric m;
    ScanFn scan;

    // Inner product without a norm division (IP, cosine on all dims): the kernel scores negated
    // copies of the queries' scan prefixes, so that its values are the internal distances -q.x
    // as they are (the same values as q.x negated: an FMA chain on -q is the negated chain on q;
    // only the sign of an exact zero may differ, which compares equal), with no pass over the
    // tile to negate them.
    bool negated_queries() const { return m.negate && !m.use_norm; }
    struct Chunk {
        std::size_t qb;
        std::vector<float> xnorm;  // tile (cosine on a prefix: the rows' squared prefix norms)
        std::vector<float> negq;   // negated_queries(): -q[:scan_dim] of the chunk's queries
    };
    Chunk begin_chunk(std::size_t qb, std::size_t cq) const {
        Chunk c{qb, std::vector<float>(m.use_norm ? tile : 0), {}};
        if (negated_queries()) {
            c.negq.resize(cq * scan_dim);
            for (std::size_t j = 0; j < cq; ++j) {
                const float* q = xq + (qb + j) * dim;
                float* o = c.negq.data() + j * scan_dim;
                for (std::size_t t = 0; t < scan_dim; ++t) o[t] = -q[t];
            }
        }
        return c;
    }
    std::size_t tile_rows() const { return tile; }
    std::size_t list_size(std::size_t l) const { return lists.list_size(l); }
    const int64_t* ids(std::size_t l) const { return lists.ids(l); }
    void begin_list(Chunk&, std::size_t, const uint32_t*, std::size_t) const {}
    void scan_tile(Chunk& c, std::size_t l, std::size_t r0, std::size_t t, const uint32_t* members,
                   std::size_t nm, float* dist) const {
        const float* qs[kMembersPerCall];
        const bool neg = negated_queries();
        for (std::size_t i = 0; i < nm; ++i)
            qs[i] = neg ? c.negq.data() + members[i] * scan_dim : xq + (c.qb + members[i]) * dim;
        scan(m.kind, qs, nm, lists.row(l, r0), t, dim, scan_dim, dist, t, m.use_norm ? c.xnorm.data() : nullptr);
        if (m.use_norm) {
            for (std::size_t i = 0; i < nm; ++i)
                for (std::size_t r = 0; r < t; ++r) dist[i * t + r] = m.finish(dist[i * t + r], c.xnorm[r]);
        }
    }
};

// Scanner of the int8 scan store (ScanCodes: blocks of 16 rows, ivf/sq8_blocks.h): the scan_dim
// prefix of the rows' codes against each member query in code space, by the tile kernel. With
// dequantised rows x = lo + step * c and the query's weights qw:
//   IP / cosine: qw = -q * step; the tile value is -q . x less the query's constant -q . lo
//                (the cosine of a prefix ranks like the inner product of the unit rows' prefixes);
//   L2:          qw = -2 (q - lo) * step; plus the rows' sum of step^2 c^2 (the norms kernel, once
//                per tile): ||q - x||^2 less the query's ||q - lo||^2.
// The 8-bit dims' weights are rounded to 8 bits (make_sq8_query8); the rerank, which an int8 scan
// always has, gives the exact values.
struct Sq8Scanner {
    static constexpr bool kFilterSpans = true;  // (spans start at multiples of 32 rows: whole blocks)
    static constexpr std::size_t kMembersPerCall = 16;
    static constexpr std::size_t kTile = 256;
    const InvertedLists& lists;
    const ScanCodes& codes;
    const float* xq;  // the batch's queries (nq x dim)
    std::size_t dim, scan_dim;
    bool l2;
    Sq8TileFn tile;
    Sq8NormsFn norms;
    std::vector<float> wsq;  // L2: step^2 of the scan_dim dims, zero past them (norms' contract)

    Sq8Scanner(const InvertedLists& lists_, const ScanCodes& codes_, const float* xq_, std::size_t dim_,
               std::size_t scan_dim_, bool l2_)
        : lists(lists_), codes(codes_), xq(xq_), dim(dim_), scan_dim(scan_dim_), l2(l2_), tile(sq8_tile_kernel()),
          norms(sq8_norms_kernel()), wsq(l2_ ? dim_ + 4 : 0, 0.f) {
        for (std::size_t t = 0; t < wsq.size() && t < scan_dim; ++t) wsq[t] = codes.step[t] * codes.step[t];
    }

    struct Chunk {
        std::vector<float> qw;     // per query: the scan_dim weights (the wide dims' are qhi)
        std::vector<int8_t> q8;    // per query: the 8-bit dims' weights, zero up to a multiple of 64 (never empty)
        std::vector<Sq8TileQuery> q;
        const Sq8TileQuery* qs[kMembersPerCall];
        std::vector<float> tile_norms;  // L2: the row terms of the tile below
        std::size_t norms_list = std::numeric_limits<std::size_t>::max(), norms_r0 = 0, norms_t = 0;
    };
    Chunk begin_chunk(std::size_t qb, std::size_t cq) const {
        const std::size_t h = std::min(codes.wide, scan_dim), lw = scan_dim - h, q8s = (lw + 63) / 64 * 64;
        Chunk c{std::vector<float>(cq * scan_dim), std::vector<int8_t>(cq * q8s + 64, 0), std::vector<Sq8TileQuery>(cq), {},
                std::vector<float>(l2 ? kTile : 0)};
        for (std::size_t j = 0; j < cq; ++j) {
            const float* q = xq + (qb + j) * dim;
            float* qw = c.qw.data() + j * scan_dim;
            for (std::size_t t = 0; t < scan_dim; ++t) qw[t] = l2 ? -2.f * (q[t] - codes.lo[t]) * codes.step[t] : -q[t] * codes.step[t];
            int8_t* q8 = c.q8.data() + j * q8s;
            c.q[j] = Sq8TileQuery{q8, make_sq8_query8(qw + h, lw, q8), qw};
        }
        return c;
    }
    std::size_t tile_rows() const { return kTile; }
    std::size_t list_size(std::size_t l) const { return lists.list_size(l); }
    const int64_t* ids(std::size_t l) const { return lists.ids(l); }
    void begin_list(Chunk&, std::size_t, const uint32_t*, std::size_t) const {}
    void scan_tile(Chunk& c, std::size_t l, std::size_t r0, std::size_t t, const uint32_t* members,
                   std::size_t nm, float* dist) const {
        const uint8_t* blocks = codes.blocks(l, r0);  // (r0: a multiple of 16, tiles and filter spans are)
        for (std::size_t i = 0; i < nm; ++i) c.qs[i] = &c.q[members[i]];
        tile(c.qs, nm, blocks, codes.wide, codes.block_bytes, t, scan_dim, dist, t);
        if (!l2) return;
        if (c.norms_list != l || c.norms_r0 != r0 || c.norms_t != t) {  // (a list with more members than a call: once)
            norms(blocks, codes.wide, codes.block_bytes, t, scan_dim, wsq.data(), c.tile_norms.data());
            c.norms_list = l, c.norms_r0 = r0, c.norms_t = t;
        }
        for (std::size_t i = 0; i < nm; ++i)
            for (std::size_t r = 0; r < t; ++r) dist[i * t + r] += c.tile_norms[r];
    }
};

}  // namespace

std::shared_ptr<const IVFCore::ProbePanels> IVFCore::probe_panels(std::size_t pd) const {
    std::lock_guard<std::mutex> guard(panels_mu_);
    if (panels_ && panels_->pd == pd) return panels_;
    auto p = std::make_shared<ProbePanels>();
    p->pd = pd;
    std::vector<float> c(nlist_ * pd);
    p->norms.resize(nlist_);
    for (std::size_t j = 0; j < nlist_; ++j) {
        const float* src = centroids_.data() + j * coarse_dim_;
        const float s2 = sqnorm(src, pd);
        const float scale = metric_ == kMetricCosine && s2 > 0.f ? 1.f / std::sqrt(s2) : 1.f;
        for (std::size_t t = 0; t < pd; ++t) c[j * pd + t] = src[t] * scale;
        p->norms[j] = s2;
    }
    p->packed.resize(packed_size(nlist_, pd));
    pack_panels(c.data(), nlist_, pd, pd, p->packed.data());
    panels_ = std::move(p);
    return panels_;
}

void IVFCore::coarse_probe(const float* q, std::size_t nq, std::size_t nprobe, std::size_t probe_dim,
                           int64_t* probes) const {
    if (nlist_ == 1) {
        std::fill(probes, probes + nq * nprobe, int64_t(0));
        return;
    }
    if (nq == 0) return;
    // Distances of a chunk of queries to all centroids in GEMM form on packed centroid
    // panels: L2 ||c||^2 - 2 q.c, IP / cosine -q.c (the same arithmetic as assign_nearest).
    // Probing on a shorter prefix than coarse_dim (AdANNS-IVF-D) uses the centroid prefixes packed
    // once per probe_dim (probe_panels): L2 on the prefix, IP on the prefix, cosine on the
    // normalised prefix.
    const std::size_t pd = probe_dim == 0 ? coarse_dim_ : probe_dim;
    if (pd < coarse_dim_) {
        const std::shared_ptr<const ProbePanels> p = probe_panels(pd);
        top_nearest(q, nq, dim_, p->packed.data(), p->norms.data(), nlist_, pd, metric_ != kMetricL2, nprobe, probes);
        return;
    }
    top_nearest(q, nq, dim_, packed_centroids_.data(), centroid_norms_.data(), nlist_, pd, metric_ != kMetricL2,
                nprobe, probes);
}

const float* IVFCore::prepare_queries(const float* xq, std::size_t nq, std::vector<float>& buf) const {
    if (metric_ != kMetricCosine) return xq;
    buf.resize(nq * dim_);
    normalize_rows(xq, nq, dim_, buf.data());
    return buf.data();
}

void IVFCore::search(const float* xq, std::size_t nq, const SearchParams& p, float* D, int64_t* I,
                     SearchStats* stats, const RowFilter* filter) const {
    if (p.k == 0) throw std::invalid_argument("k must be >= 1");
    if (p.nprobe == 0 || p.nprobe > nlist_) throw std::invalid_argument("nprobe must be in 1..nlist");
    if (p.scan_dim == 0 || p.scan_dim > dim_) throw std::invalid_argument("scan_dim must be in 1..dim");
    if (p.probe_dim > coarse_dim_) throw std::invalid_argument("probe_dim must be in 1..coarse_dim");
    if ((p.rerank_k > 0 || p.int8_scan) && (p.rerank_dim == 0 || p.rerank_dim > dim_))
        throw std::invalid_argument("rerank_dim must be in 1..dim");
    std::vector<float> normed;
    xq = prepare_queries(xq, nq, normed);
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained before search");
    search_locked(xq, nq, p, D, I, stats, filter);
}

void IVFCore::probe(const float* xq, std::size_t nq, std::size_t nprobe, std::size_t probe_dim,
                    int64_t* probes) const {
    if (nprobe == 0 || nprobe > nlist_) throw std::invalid_argument("nprobe must be in 1..nlist");
    if (probe_dim > coarse_dim_) throw std::invalid_argument("probe_dim must be in 1..coarse_dim");
    std::vector<float> normed;
    xq = prepare_queries(xq, nq, normed);  // probing is scale-invariant per query; normalise like search
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained before probe");
    coarse_probe(xq, nq, nprobe, probe_dim, probes);
}

void IVFCore::search_locked(const float* xq, std::size_t nq, const SearchParams& p, float* D, int64_t* I,
                            SearchStats* stats, const RowFilter* filter) const {
    const std::size_t sd = p.scan_dim;
    const std::shared_ptr<const ScanCodes> codes = p.int8_scan ? scan_codes() : nullptr;
    const std::size_t rd = p.rerank_k > 0 || codes ? p.rerank_dim : sd;
    // Row tiles of 256 rows: the tile-form kernel reads each row once for all the members of a
    // call, so the tile only bounds the distance block (members x rows) the driver pushes from,
    // 16 KiB (L1); its rows (at most 384 KiB at 384 dims) stay in L2 for a list's next members.
    // (64 to 512 rows measured alike on 98k x 384 real embeddings.)
    constexpr std::size_t tile = 256;
    const std::size_t qblock = probe_block_size(p.nprobe);
    std::vector<int64_t> probes(std::min(nq, qblock) * p.nprobe);
    for (std::size_t qb = 0; qb < nq; qb += qblock) {
        const std::size_t cq = std::min(qblock, nq - qb);
        const float* q = xq + qb * dim_;
        const auto t0 = Clock::now();
        coarse_probe(q, cq, p.nprobe, p.probe_dim, probes.data());
        // The coarse stage runs its own parallel loop: its thread time is wall time x threads.
        if (stats) stats->coarse_s += seconds(t0, Clock::now()) * std::min<std::size_t>(max_threads(), std::max<std::size_t>(cq, 1));
        // Cosine on a final prefix rd < dim: similarities are divided by ||q[:rd]||. Query chunks
        // as large as one per thread (up to 4096 queries): the larger the chunk, the more queries
        // share each list and candidate row read (2,000 queries on 2 threads: chunks of 1,000 took
        // 0.87-0.91x the time of chunks of 256 with rerank_k 30-100).
        BatchSpec s{cq,  nlist_, p.nprobe, p.k, p.rerank_k, dim_, p.rerank_dim,
                    metric_ == kMetricCosine && rd < dim_ ? rd : 0, metric_, 4096, 4096, filter};
        if (codes) {
            // The int8 scan ranks; at least the k results are re-scored exactly on rerank_dim.
            s.rerank_k = std::max(p.rerank_k, p.k);
            const Sq8Scanner sc(lists_, *codes, q, dim_, sd, metric_ == kMetricL2);
            batch_search(sc, &lists_, s, probes.data(), q, D + qb * p.k, I + qb * p.k, stats);
            continue;
        }
        const FlatScanner sc{lists_, q, dim_, sd, tile, StageMetric(metric_, sd, dim_), kernels().scan};
        // The scan's distance is the exact partial on sd dims unless it is divided by a norm (cosine
        // on a prefix): then the rerank reads only dims [sd, rerank_dim) of each row.
        if (!sc.m.use_norm && !StageMetric(metric_, rd, dim_).use_norm) s.prefix_dim = sd;
        batch_search(sc, &lists_, s, probes.data(), q, D + qb * p.k, I + qb * p.k, stats);
    }
}

}  // namespace adanns
