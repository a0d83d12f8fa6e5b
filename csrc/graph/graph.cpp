#include "graph.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>

#include "kernels/kernels.h"
#include "common/metric.h"
#include "common/norms.h"
#include "common/parallel.h"
#include "common/prefetch.h"
#include "common/topk.h"
#include "gather_kernels.h"
#include "graph/sq8.h"

namespace adanns {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

inline uint64_t splitmix64(uint64_t& s) {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

inline float l2_norm(const float* x, std::size_t d) {
    double s = 0;
    for (std::size_t t = 0; t < d; ++t) s += double(x[t]) * x[t];
    return float(std::sqrt(s));
}

// Chunks of a batch: about 4 per thread (dynamic scheduling balances uneven searches).
inline std::size_t grain_for(std::size_t n) {
    const std::size_t parts = 4 * static_cast<std::size_t>(max_threads());
    return std::max<std::size_t>(1, (n + parts - 1) / parts);
}

}  // namespace

// A sorted candidate pool of bounded size with "expanded" flags (DiskANN's retset).
struct GraphCore::Scratch {
    struct Slot {
        float d;
        uint32_t id;
        uint32_t done;  // expanded (one array: an insertion shifts one block, not two)
    };
    std::vector<Slot> pool;
    std::size_t size = 0, cursor = 0, cap = 0;
    std::vector<Cand> expanded;
    std::vector<uint32_t> nb, pos;
    std::vector<float> dist, dist2, occl, q, qw, wg;
    std::vector<int16_t> q16;
    std::vector<Cand> cands;

    void init(std::size_t L) {
        cap = L;
        if (pool.size() < L + 1) pool.resize(L + 1);
        size = cursor = 0;
        expanded.clear();
    }
    static bool before(float d, uint32_t id, const Slot& c) { return d < c.d || (d == c.d && id < c.id); }
    // Inserts (d, id) in order; returns its position, or SIZE_MAX when the full pool rejects it.
    std::size_t push(float d, uint32_t id) {
        if (size == cap && !before(d, id, pool[size - 1])) return std::size_t(-1);
        std::size_t lo = 0, hi = size;
        while (lo < hi) {
            const std::size_t mid = (lo + hi) / 2;
            if (before(d, id, pool[mid])) hi = mid; else lo = mid + 1;
        }
        const std::size_t keep = size == cap ? size - 1 : size;  // the last one drops out when full
        std::memmove(&pool[lo + 1], &pool[lo], (keep - lo) * sizeof(Slot));
        pool[lo] = Slot{d, id, 0};
        size = keep + 1;
        if (lo < cursor) cursor = lo;
        return lo;
    }
    void ensure(std::size_t n) {
        if (nb.size() < n) {
            nb.resize(n);
            dist.resize(n);
            dist2.resize(n);
        }
    }
};

GraphCore::GraphCore(const GraphParams& p) : p_(p), build_kind_(kScanL2) {
    if (p.dim == 0) throw std::invalid_argument("dim must be >= 1");
    if (p.graph_dim == 0 || p.graph_dim > p.dim) throw std::invalid_argument("graph_dim must be in 1..dim");
    if (p.degree < 2 || p.degree > 1024) throw std::invalid_argument("degree must be in 2..1024");
    if (p.build_beam < 1 || p.build_beam > 100000) throw std::invalid_argument("build_beam must be in 1..100000");
    if (!(p.alpha >= 1.f && p.alpha <= 4.f)) throw std::invalid_argument("alpha must be in [1, 4]");
    if (p.metric < kMetricL2 || p.metric > kMetricCosine) throw std::invalid_argument("unknown metric");
    if (p.store != kStoreFloat && p.store != kStoreSq8) throw std::invalid_argument("unknown store");
    vectors_ = RerankStore(p.dim);
}

bool GraphCore::vectors_mapped() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return vectors_.mapped();
}

std::size_t GraphCore::ntotal() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return ids_.size() - ndeleted_;
}
std::size_t GraphCore::nstored() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return ids_.size();
}
std::size_t GraphCore::ndeleted() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return ndeleted_;
}
uint32_t GraphCore::entry() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return entry_;
}
int64_t GraphCore::next_id() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return next_id_;
}

// ------------------------------------------------------------------ search

std::size_t GraphCore::beam_search(const Walk& wk, std::size_t L, VisitedTable& vt, Scratch& s,
                                   bool keep_expanded, std::size_t keep) const {
    const std::size_t n = ids_.size();
    const std::size_t R = p_.degree, w = wk.w;
    const float* base = fbase();
    const std::size_t stride = fstride();
    const uint8_t* cbase = codes_.data();
    const std::size_t cb = code_bytes(), wide = sq_wide();
    const GatherFn gather = gather_kernel();
    const GatherSq8Fn gather8 = gather_sq8_kernel();
    const float sign = (wk.sq8 ? wk.kind == kSq8L2 : wk.kind == kScanL2) ? 1.f : -1.f;  // the walk minimises -ip
    auto prefetch_edges = [&](uint32_t v) {
        prefetch_span(&adj_[std::size_t(v) * R], R * sizeof(uint32_t));
        __builtin_prefetch(&deg_[v], 0, 3);
    };
    auto dist = [&](const uint32_t* idx, std::size_t m) {
        if (wk.sq8)
            gather8(Sq8Query{wk.kind, wk.q, wk.wgt, wk.q16, wk.inv_scale, wide, wk.q}, cbase, cb, idx, m, w,
                    s.dist.data());
        else
            gather(wk.kind, wk.q, base, stride, idx, m, w, s.dist.data(), s.dist2.data());
    };
    vt.reset(n);
    s.init(std::max(L, keep));
    s.ensure(R);
    if (n == 0) return 0;
    uint32_t ep = entry_;
    vt.insert(ep);
    dist(&ep, 1);
    s.push(sign * s.dist[0], ep);
    std::size_t hops = 0;
    const std::size_t limit = L;  // only the best L are expanded (the pool may keep more for the rerank)
    while (s.cursor < std::min(s.size, limit)) {
        const std::size_t c = s.cursor;
        const uint32_t node = s.pool[c].id;
        s.pool[c].done = 1;
        if (keep_expanded) s.expanded.push_back(Cand{s.pool[c].d, node});
        ++hops;
        // the next node to expand is likely the next undone one: fetch its edges now (they were
        // fetched when it entered the pool, but may have left the cache since)
        for (std::size_t t = c + 1; t < std::min(s.size, limit); ++t)
            if (!s.pool[t].done) {
                prefetch_edges(s.pool[t].id);
                break;
            }
        const uint32_t* nbr = &adj_[std::size_t(node) * R];
        const std::size_t dg = deg_[node];
        std::size_t m = 0;
        for (std::size_t j = 0; j < dg; ++j) {
            const uint32_t v = nbr[j];
            if (vt.insert(v)) {
                s.nb[m++] = v;
                // the walk rows of a hop fetched all at once, so that their memory latencies
                // overlap (they fit in L1/L2); the gather kernel also fetches a block of rows ahead
                if (wk.sq8)
                    prefetch_span(cbase + std::size_t(v) * cb, w + std::min(wide, w));
                else
                    prefetch_span(base + std::size_t(v) * stride, w * sizeof(float));
            }
        }
        if (m) {
            dist(s.nb.data(), m);
            // a neighbour that enters the expandable part of the pool is a likely next hop: its
            // edges are fetched now, a whole hop before they are read (1.1x faster walk, int8)
            for (std::size_t j = 0; j < m; ++j)
                if (s.push(sign * s.dist[j], s.nb[j]) < limit) prefetch_edges(s.nb[j]);
        }
        while (s.cursor < s.size && s.pool[s.cursor].done) ++s.cursor;
    }
    return hops;
}

void GraphCore::search(const float* xq, std::size_t nq, std::size_t k, std::size_t beam, std::size_t rerank_k,
                       std::size_t rerank_dim, std::size_t walk_dim, float* D, int64_t* I,
                       const RowFilter* filter) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    const std::size_t dim = p_.dim;
    if (k == 0) throw std::invalid_argument("k must be >= 1");
    if (walk_dim == 0 || walk_dim > p_.graph_dim) throw std::invalid_argument("walk_dim must be in 1..graph_dim");
    if (rerank_dim == 0 || rerank_dim > dim) throw std::invalid_argument("rerank_dim must be in 1..dim");
    const int metric = p_.metric;
    const int walk_kind = metric == kMetricL2 ? kScanL2 : kScanIP;
    const std::size_t L = std::max(beam, k);
    const std::size_t K = std::max(k, rerank_k);
    const float* full = vectors_.data();
    parallel_for_chunks(nq, grain_for(nq), [&](std::size_t b, std::size_t e) {
        auto vt = visited_.get();
        Scratch s;
        s.q.resize(dim);
        s.qw.resize(p_.graph_dim);
        s.wg.resize(p_.graph_dim);
        s.q16.resize(p_.graph_dim);
        for (std::size_t i = b; i < e; ++i) {
            cancel_point();
            const float* q = xq + i * dim;
            if (metric == kMetricCosine) {
                normalize(q, dim, s.q.data());  // the core's one normalisation (denormal rows too)
            } else {
                std::memcpy(s.q.data(), q, dim * sizeof(float));
            }
            Walk wk{walk_kind, s.q.data(), nullptr, walk_dim, false};
            if (p_.store == kStoreSq8) {
                const Sq8Query q8 = sq8_query(walk_kind == kScanL2, s.q.data(), walk_dim, sq_wide(), sq_lo_.data(),
                                              sq_step_.data(), s.qw.data(), s.wg.data(), s.q16.data());
                wk = Walk{q8.kind, q8.q, q8.wgt, walk_dim, true, q8.q16, q8.inv_scale};
            }
            beam_search(wk, L, *vt, s, false, K);
            // the best K live candidates of the walk, re-scored on rerank_dim dims of the full rows
            s.ensure(K);
            std::size_t m = 0;
            for (std::size_t t = 0; t < s.size && m < K; ++t) {
                const uint32_t v = s.pool[t].id;
                if (deleted_[v] || (filter && !filter->allows(ids_[v]))) continue;
                // whole rows for the first two blocks of four; the kernel fetches each later
                // block's rows while it computes the one before (all at once would overrun the
                // miss buffers: 1.4x slower per row)
                prefetch_span(full + std::size_t(v) * dim, m < 8 ? rerank_dim * sizeof(float) : 64);
                s.nb[m++] = v;
            }
            TopK top(D + i * k, I + i * k, k);
            rescore(s.q.data(), s.nb.data(), m, rerank_dim, s, top);
            top.sort();
            if (metric != kMetricL2)
                for (std::size_t j = 0; j < k; ++j) D[i * k + j] = -D[i * k + j];
        }
    });
}

void GraphCore::rescore(const float* q, const uint32_t* idx, std::size_t m, std::size_t rerank_dim, Scratch& s,
                        TopK& top) const {
    const std::size_t dim = p_.dim;
    const int metric = p_.metric;
    const int rr_kind = metric == kMetricL2 ? kScanL2 : (metric == kMetricCosine && rerank_dim < dim ? kScanIPNorm : kScanIP);
    gather_kernel()(rr_kind, q, vectors_.data(), dim, idx, m, rerank_dim, s.dist.data(), s.dist2.data());
    float qn = 1.f;
    if (rr_kind == kScanIPNorm) qn = l2_norm(q, rerank_dim);
    for (std::size_t j = 0; j < m; ++j) {
        float d = s.dist[j];
        if (rr_kind == kScanIPNorm) {
            const float den = qn * std::sqrt(s.dist2[j]);
            d = den > 0 ? d / den : 0.f;
        }
        if (rr_kind != kScanL2) d = -d;
        top.push(d, ids_[idx[j]]);
    }
}

void GraphCore::search_exact(const float* xq, std::size_t nq, std::size_t k, std::size_t rerank_dim, float* D,
                             int64_t* I) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    const std::size_t dim = p_.dim, n = ids_.size();
    if (k == 0) throw std::invalid_argument("k must be >= 1");
    if (rerank_dim == 0 || rerank_dim > dim) throw std::invalid_argument("rerank_dim must be in 1..dim");
    constexpr std::size_t kBlock = 256;
    parallel_for_chunks(nq, grain_for(nq), [&](std::size_t b, std::size_t e) {
        Scratch s;
        s.q.resize(dim);
        s.ensure(kBlock);
        for (std::size_t i = b; i < e; ++i) {
            const float* q = xq + i * dim;
            const float nrm = p_.metric == kMetricCosine ? l2_norm(q, dim) : 1.f;
            const float inv = p_.metric != kMetricCosine ? 1.f : (nrm > 0 ? 1.f / nrm : 0.f);
            for (std::size_t t = 0; t < dim; ++t) s.q[t] = q[t] * inv;
            TopK top(D + i * k, I + i * k, k);
            std::size_t m = 0;
            for (std::size_t v = 0; v <= n; ++v) {
                if (m == kBlock || (v == n && m > 0)) {
                    rescore(s.q.data(), s.nb.data(), m, rerank_dim, s, top);
                    m = 0;
                }
                if (v < n && !deleted_[v]) s.nb[m++] = static_cast<uint32_t>(v);
            }
            top.sort();
            if (p_.metric != kMetricL2)
                for (std::size_t j = 0; j < k; ++j) D[i * k + j] = -D[i * k + j];
        }
    });
}

// ------------------------------------------------------------------ build

void GraphCore::robust_prune(uint32_t p, std::vector<Cand>& cands, std::vector<uint32_t>& out, Scratch& s) const {
    // cands: distances to p (build metric), any order, may hold duplicates and p itself.
    // NaN (from overflowing values) would break the sort's ordering: it ranks as +inf.
    for (Cand& c : cands)
        if (std::isnan(c.d)) c.d = kInf;
    std::sort(cands.begin(), cands.end(),
              [](const Cand& a, const Cand& b) { return a.d < b.d || (a.d == b.d && a.id < b.id); });
    std::size_t m = 0;
    for (std::size_t i = 0; i < cands.size(); ++i) {
        const Cand c = cands[i];
        if (c.id == p || deleted_[c.id] || (m > 0 && cands[m - 1].id == c.id)) continue;
        cands[m++] = c;
    }
    cands.resize(m);
    out.clear();
    const std::size_t R = p_.degree, gd = p_.graph_dim;
    s.occl.assign(m, 0.f);
    s.ensure(m);
    if (s.pos.size() < m) s.pos.resize(m);
    const GatherFn gather = gather_kernel();
    float cur = 1.f;
    for (;;) {
        for (std::size_t i = 0; i < m && out.size() < R; ++i) {
            if (s.occl[i] > cur) continue;
            s.occl[i] = kInf;
            const uint32_t ci = cands[i].id;
            out.push_back(ci);
            // distances from ci to the candidates after it that are not yet occluded
            std::size_t nj = 0;
            for (std::size_t j = i + 1; j < m; ++j)
                if (s.occl[j] <= p_.alpha) {
                    s.pos[nj] = static_cast<uint32_t>(j);
                    s.nb[nj++] = cands[j].id;
                }
            if (nj == 0) continue;
            gather(build_kind_, frow(ci), fbase(), fstride(), s.nb.data(), nj, gd, s.dist.data(), s.dist2.data());
            for (std::size_t t = 0; t < nj; ++t) {
                const std::size_t j = s.pos[t];
                const float djk = s.dist[t];
                s.occl[j] = djk <= 0.f ? kInf : std::max(s.occl[j], cands[j].d / djk);
            }
        }
        if (cur >= p_.alpha || out.size() >= R) break;
        cur = std::min(cur * 1.2f, p_.alpha);
    }
}

void GraphCore::journal(uint32_t p) {
    if (p >= journal_.limit || journal_.saved[p]) return;
    // Several threads may journal at once (one node each: every node is rewritten by one task).
    // (.at: a team larger than at the add's start fails the add cleanly; the row is not yet changed)
    std::vector<uint32_t>& e = journal_.entries.at(static_cast<std::size_t>(thread_id()));
    const std::size_t R = p_.degree;
    e.push_back(p);
    e.push_back(deg_[p]);
    e.insert(e.end(), adj_.begin() + std::size_t(p) * R, adj_.begin() + std::size_t(p + 1) * R);
    journal_.saved[p] = 1;
}

void GraphCore::undo_journal() {
    const std::size_t R = p_.degree;
    for (const std::vector<uint32_t>& e : journal_.entries) {
        for (std::size_t i = 0; i + R + 2 <= e.size(); i += R + 2) {
            const std::size_t p = e[i];
            deg_[p] = e[i + 1];
            std::copy(e.begin() + i + 2, e.begin() + i + 2 + R, adj_.begin() + p * R);
        }
    }
}

void GraphCore::set_neighbors(uint32_t p, const std::vector<uint32_t>& nb) {
    journal(p);
    const std::size_t R = p_.degree;
    const std::size_t m = std::min(nb.size(), R);
    std::copy(nb.begin(), nb.begin() + m, adj_.begin() + std::size_t(p) * R);
    deg_[p] = static_cast<uint32_t>(m);
}

uint32_t GraphCore::medoid() const {
    const std::size_t n = ids_.size(), gd = p_.graph_dim;
    std::vector<double> mean(gd, 0.0);
    std::size_t live = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (deleted_[i]) continue;
        ++live;
        const float* x = frow(i);
        for (std::size_t t = 0; t < gd; ++t) mean[t] += x[t];
    }
    if (live == 0) return 0;
    std::vector<float> c(gd);
    for (std::size_t t = 0; t < gd; ++t) c[t] = float(mean[t] / double(live));
    // the first live node unless a closer one is found (also when every distance overflows)
    uint32_t best = kNone;
    double bd = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        if (deleted_[i]) continue;
        const float* x = frow(i);
        double d = 0.0;
        for (std::size_t t = 0; t < gd; ++t) d += (double(x[t]) - c[t]) * (double(x[t]) - c[t]);
        if (best == kNone || d < bd) {
            bd = d;
            best = static_cast<uint32_t>(i);
        }
    }
    return best;
}

void GraphCore::insert_range(std::size_t begin, std::size_t end, const std::function<void(std::size_t)>* progress) {
    const std::size_t R = p_.degree, gd = p_.graph_dim;
    std::vector<uint32_t> order;
    order.reserve(end - begin);
    for (std::size_t i = begin; i < end; ++i) order.push_back(static_cast<uint32_t>(i));
    uint64_t st = p_.seed ^ (uint64_t(begin) * 0xD1B54A32D192ED03ull);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[splitmix64(st) % i]);
    bool has_live = false;
    for (std::size_t i = 0; i < begin && !has_live; ++i) has_live = !deleted_[i];
    if (!has_live) {
        // nothing to link to: the medoid of the new points becomes the entry point
        entry_ = medoid();
        order.erase(std::find(order.begin(), order.end(), entry_));
    }
    const std::size_t max_batch = std::max<std::size_t>(1, end / 50);
    std::size_t pos = 0, bs = 1;
    std::vector<std::vector<uint32_t>> out;
    while (pos < order.size()) {
        const std::size_t e = std::min(pos + bs, order.size());
        const std::size_t nb = e - pos;
        out.assign(nb, {});
        // 1. search for each new point in the frozen graph; prune the visited set
        parallel_for_chunks(nb, grain_for(nb), [&](std::size_t b, std::size_t ee) {
            auto vt = visited_.get();
            Scratch s;
            for (std::size_t i = b; i < ee; ++i) {
                cancel_point();
                const uint32_t p = order[pos + i];
                beam_search(Walk{build_kind_, frow(p), nullptr, gd, false}, p_.build_beam, *vt, s, true);
                s.cands.assign(s.expanded.begin(), s.expanded.end());
                for (std::size_t t = 0; t < s.size; ++t) s.cands.push_back(Cand{s.pool[t].d, s.pool[t].id});
                robust_prune(p, s.cands, out[i], s);
            }
        });
        // 2. write the new edges, then the reverse edges grouped by target in a fixed order
        std::vector<std::pair<uint32_t, uint32_t>> rev;
        for (std::size_t i = 0; i < nb; ++i) {
            const uint32_t p = order[pos + i];
            set_neighbors(p, out[i]);
            for (uint32_t q : out[i]) rev.emplace_back(q, p);
        }
        std::sort(rev.begin(), rev.end());
        std::vector<std::size_t> starts;
        for (std::size_t i = 0; i < rev.size(); ++i)
            if (i == 0 || rev[i].first != rev[i - 1].first) starts.push_back(i);
        starts.push_back(rev.size());
        const std::size_t ng = starts.size() - 1;
        parallel_for_chunks(ng, grain_for(ng), [&](std::size_t b, std::size_t ee) {
            Scratch s;
            std::vector<uint32_t> merged, pruned;
            for (std::size_t g = b; g < ee; ++g) {
                const uint32_t q = rev[starts[g]].first;
                const uint32_t* cur = &adj_[std::size_t(q) * R];
                merged.assign(cur, cur + deg_[q]);
                for (std::size_t t = starts[g]; t < starts[g + 1]; ++t) {
                    const uint32_t src = rev[t].second;
                    if (std::find(cur, cur + deg_[q], src) == cur + deg_[q]) merged.push_back(src);
                }
                if (merged.size() <= R) {
                    set_neighbors(q, merged);
                    continue;
                }
                s.ensure(merged.size());
                gather_kernel()(build_kind_, frow(q), fbase(), fstride(), merged.data(), merged.size(), gd,
                                s.dist.data(), s.dist2.data());
                s.cands.resize(merged.size());
                for (std::size_t t = 0; t < merged.size(); ++t) s.cands[t] = Cand{s.dist[t], merged[t]};
                robust_prune(q, s.cands, pruned, s);
                set_neighbors(q, pruned);
            }
        });
        pos = e;
        bs = std::min(bs * 2, max_batch);
        if (progress) (*progress)(pos);
    }
    repair_connectivity();
}

// Vamana does not promise that every node stays reachable from the entry point (a node's
// in-edges can all be pruned away). Each live node the walk cannot reach gets an in-edge
// from the nearest reachable live node with a free slot, found by a search for it; when all
// candidates are full, the nearest one hands its last edge over to the node (host -> u -> w
// replaces host -> w). Sequential and in index order: deterministic.
void GraphCore::repair_connectivity() {
    const std::size_t n = ids_.size(), R = p_.degree, gd = p_.graph_dim;
    if (n == 0) return;
    std::vector<uint8_t> seen(n, 0);
    std::vector<uint32_t> stack;
    auto flood = [&](uint32_t from) { mark_reachable(from, seen, stack); };
    Scratch s;
    auto vt = visited_.get();
    for (int round = 0; round < 8; ++round) {
        std::fill(seen.begin(), seen.end(), 0);
        flood(entry_);
        bool changed = false;
        for (std::size_t u = 0; u < n; ++u) {
            if (seen[u] || deleted_[u]) continue;
            beam_search(Walk{build_kind_, frow(u), nullptr, gd, false}, std::max<std::size_t>(p_.build_beam, 2 * R),
                    *vt, s, false);
            uint32_t host = kNone, nearest = kNone;
            for (std::size_t t = 0; t < s.size && host == kNone; ++t) {
                const uint32_t v = s.pool[t].id;
                if (!seen[v] || deleted_[v] || v == u) continue;
                if (nearest == kNone) nearest = v;
                if (deg_[v] < R) host = v;
            }
            if (host != kNone) {
                journal(host);
                adj_[std::size_t(host) * R + deg_[host]++] = static_cast<uint32_t>(u);
            } else if (nearest != kNone) {
                journal(nearest);
                journal(static_cast<uint32_t>(u));
                uint32_t* hrow = &adj_[std::size_t(nearest) * R];
                const uint32_t w = hrow[R - 1];
                hrow[R - 1] = static_cast<uint32_t>(u);
                uint32_t* urow = &adj_[u * R];
                if (std::find(urow, urow + deg_[u], w) == urow + deg_[u] && w != u) {
                    if (deg_[u] < R) urow[deg_[u]++] = w; else urow[R - 1] = w;
                }
            } else {
                continue;
            }
            changed = true;
            flood(static_cast<uint32_t>(u));
        }
        if (!changed) break;
    }
}

void GraphCore::add(const float* x, const int64_t* ids, std::size_t n,
                    const std::function<void(std::size_t)>* progress) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (n == 0) return;
    const std::size_t old = ids_.size(), gd = p_.graph_dim;
    if (old + n >= std::size_t(kNone)) throw std::invalid_argument("a graph index holds at most 2^32 - 2 vectors");
    constexpr int64_t kMaxId = std::numeric_limits<int64_t>::max();
    if (ids) {
        for (std::size_t i = 0; i < n; ++i)
            if (ids[i] < 0 || ids[i] == kMaxId) throw std::invalid_argument("ids must be in 0..2^63 - 2");
    } else if (next_id_ > kMaxId - int64_t(n)) {
        throw std::invalid_argument("default ids would overflow int64; pass ids explicitly");
    }
    // An add that fails or is interrupted (Ctrl-C, common/cancel.h) part-way leaves the graph as
    // it was: the new rows are cut off again and the old nodes' edges that the insertion rewired
    // are restored from the undo journal (EdgeJournal).
    struct EndJournal {
        EdgeJournal& j;
        ~EndJournal() { j = EdgeJournal{}; }
    } end_journal{journal_};
    journal_.saved.assign(old, 0);
    journal_.entries.assign(static_cast<std::size_t>(max_threads()), {});
    journal_.limit = old;
    const uint32_t entry_before = entry_;
    const int64_t next_before = next_id_;
    const bool sq_fitted = !sq_lo_.empty();
    try {
        add_rows(x, ids, n, old, progress);
    } catch (...) {
        vectors_.resize(old);  // (rows; a mapped store was copied into RAM by the add)
        if (p_.store == kStoreSq8)
            codes_.resize(old * code_bytes());
        else
            prefix_.resize(old * gd);
        undo_journal();
        adj_.resize(old * p_.degree);
        deg_.resize(old);
        ids_.resize(old);
        deleted_.resize(old);
        entry_ = entry_before;
        next_id_ = next_before;
        if (!sq_fitted) sq_lo_.clear(), sq_step_.clear();
        throw;
    }
}

void GraphCore::add_rows(const float* x, const int64_t* ids, std::size_t n, std::size_t old,
                         const std::function<void(std::size_t)>* progress) {
    const std::size_t dim = p_.dim, gd = p_.graph_dim, R = p_.degree;
    vectors_.resize(old + n);  // (a mapped store is copied into RAM first)
    float* const vec = vectors_.mutable_data();
    if (p_.store == kStoreSq8)
        codes_.resize((old + n) * code_bytes());
    else
        prefix_.resize((old + n) * gd);
    adj_.resize((old + n) * R, 0);
    deg_.resize(old + n, 0);
    ids_.resize(old + n);
    deleted_.resize(old + n, 0);
    parallel_for_chunks(n, 1024, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) {
            const float* src = x + i * dim;
            float* dst = vec + (old + i) * dim;
            if (p_.metric == kMetricCosine) {
                normalize(src, dim, dst);  // the core's one normalisation (denormal rows too)
            } else {
                std::memcpy(dst, src, dim * sizeof(float));
            }
            if (p_.store == kStoreFloat) std::memcpy(&prefix_[(old + i) * gd], dst, gd * sizeof(float));
        }
    });
    if (p_.store == kStoreSq8) {
        if (sq_lo_.empty()) fit_sq(vec + old * dim, n, dim);
        encode(old, old + n);
    }
    int64_t next = next_id_;
    for (std::size_t i = 0; i < n; ++i) {
        ids_[old + i] = ids ? ids[i] : next_id_ + int64_t(i);
        next = std::max(next, ids_[old + i] + 1);
    }
    next_id_ = next;
    insert_range(old, old + n, progress);
}

// ------------------------------------------------------------------ deletion

std::size_t GraphCore::remove_ids(const int64_t* ids, std::size_t n) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    const std::unordered_set<int64_t> gone(ids, ids + n);
    std::size_t removed = 0;
    for (std::size_t i = 0; i < ids_.size(); ++i) {
        if (!deleted_[i] && gone.count(ids_[i])) {
            deleted_[i] = 1;
            ++removed;
        }
    }
    ndeleted_ += removed;
    return removed;
}

void GraphCore::consolidate() {
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (ndeleted_ == 0) return;
    const std::size_t n = ids_.size(), R = p_.degree, gd = p_.graph_dim, dim = p_.dim;
    // 1. every live node that points at a deleted one takes over that node's live neighbours
    std::vector<std::vector<uint32_t>> fixed(n);
    std::vector<uint8_t> changed(n, 0);
    parallel_for_chunks(n, grain_for(n), [&](std::size_t b, std::size_t e) {
        Scratch s;
        std::vector<uint32_t> cand;
        for (std::size_t p = b; p < e; ++p) {
            if (deleted_[p]) continue;
            const uint32_t* nb = &adj_[p * R];
            bool hit = false;
            for (std::size_t j = 0; j < deg_[p] && !hit; ++j) hit = deleted_[nb[j]];
            if (!hit) continue;
            cand.clear();
            for (std::size_t j = 0; j < deg_[p]; ++j) {
                const uint32_t v = nb[j];
                if (!deleted_[v]) {
                    cand.push_back(v);
                    continue;
                }
                const uint32_t* nv = &adj_[std::size_t(v) * R];
                for (std::size_t t = 0; t < deg_[v]; ++t)
                    if (!deleted_[nv[t]] && nv[t] != p) cand.push_back(nv[t]);
            }
            std::sort(cand.begin(), cand.end());
            cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
            s.ensure(cand.size());
            gather_kernel()(build_kind_, frow(p), fbase(), fstride(), cand.data(), cand.size(), gd, s.dist.data(),
                            s.dist2.data());
            s.cands.resize(cand.size());
            for (std::size_t t = 0; t < cand.size(); ++t) s.cands[t] = Cand{s.dist[t], cand[t]};
            robust_prune(static_cast<uint32_t>(p), s.cands, fixed[p], s);
            changed[p] = 1;
        }
    });
    for (std::size_t p = 0; p < n; ++p)
        if (changed[p]) set_neighbors(static_cast<uint32_t>(p), fixed[p]);
    const uint32_t new_entry = deleted_[entry_] ? medoid() : entry_;
    // 2. compact
    std::vector<uint32_t> remap(n, kNone);
    std::size_t m = 0;
    for (std::size_t i = 0; i < n; ++i)
        if (!deleted_[i]) remap[i] = static_cast<uint32_t>(m++);
    float* const vec = vectors_.mutable_data();  // (a mapped store is copied into RAM first)
    for (std::size_t i = 0; i < n; ++i) {
        const uint32_t j = remap[i];
        if (j == kNone) continue;
        if (j != i) {
            std::memmove(vec + std::size_t(j) * dim, vec + i * dim, dim * sizeof(float));
            if (p_.store == kStoreSq8)
                std::memmove(&codes_[std::size_t(j) * code_bytes()], &codes_[i * code_bytes()], code_bytes());
            else
                std::memmove(&prefix_[std::size_t(j) * gd], &prefix_[i * gd], gd * sizeof(float));
            ids_[j] = ids_[i];
        }
        std::size_t d = 0;
        for (std::size_t t = 0; t < deg_[i]; ++t) {
            const uint32_t v = remap[adj_[i * R + t]];
            if (v != kNone) adj_[std::size_t(j) * R + d++] = v;
        }
        deg_[j] = static_cast<uint32_t>(d);
    }
    vectors_.resize(m);
    if (p_.store == kStoreSq8)
        codes_.resize(m * code_bytes());
    else
        prefix_.resize(m * gd);
    adj_.resize(m * R);
    deg_.resize(m);
    ids_.resize(m);
    deleted_.assign(m, 0);
    ndeleted_ = 0;
    entry_ = m ? remap[new_entry] : 0;
    repair_connectivity();
}

// ------------------------------------------------------------------ persistence

std::vector<float> GraphCore::export_vectors() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (ndeleted_) throw std::runtime_error("consolidate() before exporting");
    const float* v = vectors_.data();
    return v ? std::vector<float>(v, v + vectors_.rows() * p_.dim) : std::vector<float>();
}
std::vector<int64_t> GraphCore::export_ids() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (ndeleted_) throw std::runtime_error("consolidate() before exporting");
    return ids_;
}
std::vector<uint32_t> GraphCore::export_neighbors() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (ndeleted_) throw std::runtime_error("consolidate() before exporting");
    const std::size_t n = ids_.size(), R = p_.degree;
    std::vector<uint32_t> out(n * R, kNone);
    for (std::size_t i = 0; i < n; ++i) std::copy(&adj_[i * R], &adj_[i * R] + deg_[i], &out[i * R]);
    return out;
}

void GraphCore::set_graph(const float* vectors, const int64_t* ids, const uint32_t* neighbors, std::size_t n,
                          uint32_t entry, int64_t next_id, const float* sq, const std::string& map_path,
                          std::size_t map_offset) {
    const std::size_t dim = p_.dim, gd = p_.graph_dim, R = p_.degree;
    if (n >= std::size_t(kNone)) throw std::invalid_argument("too many vectors");
    if (n > 0 && entry >= n) throw std::invalid_argument("entry point out of range");
    std::vector<uint32_t> deg(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
        if (ids[i] < 0) throw std::invalid_argument("negative id");
        if (ids[i] >= next_id) throw std::invalid_argument("next_id is not above every id");
        const uint32_t* row = neighbors + i * R;
        std::size_t d = 0;
        while (d < R && row[d] != kNone) {
            if (row[d] >= n) throw std::invalid_argument("neighbour index out of range");
            ++d;
        }
        for (std::size_t t = d; t < R; ++t)
            if (row[t] != kNone) throw std::invalid_argument("malformed adjacency row");
        deg[i] = static_cast<uint32_t>(d);
    }
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (sq) {
        for (std::size_t t = 0; t < gd; ++t)
            if (!std::isfinite(sq[t]) || !std::isfinite(sq[gd + t]) || !(sq[gd + t] > 0.f))
                throw std::invalid_argument("invalid quantiser (non-finite lo or non-positive step)");
    }
    if (map_path.empty())
        vectors_.assign(vectors, n);
    else
        vectors_.map_file(map_path, map_offset, n);
    if (p_.store == kStoreSq8) {
        prefix_.clear();
        if (sq) {
            sq_lo_.assign(sq, sq + gd);
            sq_step_.assign(sq + gd, sq + 2 * gd);
        } else if (n) {
            fit_sq(vectors, n, dim);
        } else {
            sq_lo_.clear();
            sq_step_.clear();
        }
        codes_.resize(n * code_bytes());
        encode(0, n);
    } else {
        prefix_.resize(n * gd);
        for (std::size_t i = 0; i < n; ++i) std::memcpy(&prefix_[i * gd], vectors + i * dim, gd * sizeof(float));
    }
    adj_.assign(neighbors, neighbors + n * R);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t t = deg[i]; t < R; ++t) adj_[i * R + t] = 0;
    deg_.assign(deg.begin(), deg.end());
    ids_.assign(ids, ids + n);
    deleted_.assign(n, 0);
    ndeleted_ = 0;
    entry_ = n ? entry : 0;
    next_id_ = next_id;
}

std::vector<float> GraphCore::export_sq() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    std::vector<float> out(sq_lo_);
    out.insert(out.end(), sq_step_.begin(), sq_step_.end());
    return out;
}

// The int8 store's quantiser (graph/sq8.h), fitted to the first rows added (later rows are clamped).
void GraphCore::fit_sq(const float* x, std::size_t n, std::size_t stride) {
    sq_lo_.resize(p_.graph_dim);
    sq_step_.resize(p_.graph_dim);
    sq8_fit(x, n, stride, p_.graph_dim, sq_wide(), sq_lo_.data(), sq_step_.data());
}

void GraphCore::encode(std::size_t begin, std::size_t end) {
    const std::size_t gd = p_.graph_dim, dim = p_.dim, cb = code_bytes(), wide = sq_wide();
    parallel_for_chunks(end - begin, 1024, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = begin + b; i < begin + e; ++i)
            sq8_encode(vectors_.data() + i * dim, gd, wide, sq_lo_.data(), sq_step_.data(), &codes_[i * cb]);
    });
}

std::size_t GraphCore::reachable() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    const std::size_t n = ids_.size();
    if (n == 0) return 0;
    std::vector<uint8_t> seen(n, 0);
    std::vector<uint32_t> stack;
    return mark_reachable(entry_, seen, stack);
}

std::size_t GraphCore::mark_reachable(uint32_t from, std::vector<uint8_t>& seen, std::vector<uint32_t>& stack) const {
    const std::size_t R = p_.degree;
    if (seen[from]) return 0;
    seen[from] = 1;
    stack.push_back(from);
    std::size_t count = 0;
    while (!stack.empty()) {
        const uint32_t v = stack.back();
        stack.pop_back();
        ++count;
        for (std::size_t t = 0; t < deg_[v]; ++t) {
            const uint32_t u = adj_[std::size_t(v) * R + t];
            if (!seen[u]) {
                seen[u] = 1;
                stack.push_back(u);
            }
        }
    }
    return count;
}

}  // namespace adanns
