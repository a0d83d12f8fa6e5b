// The one list-major batch search driver of the IVF family (IVF-Flat, IVF-PQ, and the
// exhaustive Flat / PQ indices, which are the same with one list).
//
// Queries are processed in chunks (one chunk per task, OpenMP over chunks). Within a chunk the
// work is inverted: the probed lists are grouped (list -> member queries of the chunk), and each
// list is walked in row tiles; every tile is handed to the scanner together with ALL member
// queries of the chunk that probe the list (in batches of Scanner::kMembersPerCall), so a tile
// is streamed from memory once per chunk. The scanner writes an m x t block of internal
// distances (smaller is better); the driver pushes them into per-query shortlists
// (TopKBuffer over (distance, label), label = (list, row) packed as in common/labels.h).
// Then, optionally, the rerank stage recomputes exact distances of the shortlist on rerank_dim
// from full rows read through a row source, and the output stage writes (D, I) in the public
// conventions (L2 squared distances ascending; IP / cosine similarities descending; missing
// results -1 with +-inf).
//
// Scanner concept (a class with these members, all const and thread-safe across chunks):
//   static constexpr std::size_t kMembersPerCall;   // max m passed to scan_tile
//   static constexpr bool kFilterSpans;             // filtered search may score sub-ranges of a tile
//                                                   // (starting at multiples of 32 rows) to skip rows
//   struct Chunk;                                   // per-chunk scratch (LUTs, buffers)
//   Chunk begin_chunk(std::size_t qb, std::size_t cq) const;        // queries [qb, qb+cq)
//   std::size_t tile_rows() const;                  // rows per tile
//   std::size_t list_size(std::size_t l) const;
//   const int64_t* ids(std::size_t l) const;        // user ids of list l, by row
//   void begin_list(Chunk&, std::size_t l, const uint32_t* members, std::size_t m) const;
//       // once per (chunk, list) before its tiles; members: all member queries (chunk-local)
//   void scan_tile(Chunk&, std::size_t l, std::size_t r0, std::size_t t,
//                  const uint32_t* members, std::size_t m, float* dist) const;
//       // dist[i * t + r]: distance of member query members[i] to row r0 + r of list l
//
// Row source concept (rerank): const float* row(std::size_t l, std::size_t r) const;
//   the full row (stride BatchSpec::dim) of list l, row r.
#pragma once
#include <algorithm>
#include <functional>
#include <mutex>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "common/cancel.h"
#include "common/labels.h"
#include "common/list_groups.h"
#include "common/metric.h"
#include "common/norms.h"
#include "common/parallel.h"
#include "common/prefetch.h"
#include "common/row_filter.h"
#include "common/stats.h"
#include "common/topk.h"
#include "kernels/kernels.h"

namespace adanns {

struct BatchSpec {
    std::size_t nq = 0, nlist = 1, nprobe = 1, k = 10;  // (aggregate: fields in this order)
    std::size_t rerank_k = 0;    // 0: no rerank stage
    std::size_t dim = 0;         // row stride of the rerank queries and of the row source
    std::size_t rerank_dim = 0;  // dims of the exact rerank (when rerank_k > 0)
    std::size_t qscale_dim = 0;  // cosine: similarities are divided by ||q[:qscale_dim]|| (0: never)
    int metric = kMetricL2;
    std::size_t max_chunk = 4096;  // queries per chunk: upper bound ...
    std::size_t min_chunk = 256;   // ... and the size aimed at when there are few queries
    const RowFilter* filter = nullptr;  // filtered search: rows whose id it rejects are never pushed
    // > 0: the scan's distance of a row is its exact partial on the first prefix_dim dims (L2, or
    // negated IP, with no norm division), so the rerank reads only dims [prefix_dim, rerank_dim)
    // of each row and adds them to it. 0: the rerank computes all rerank_dim dims.
    std::size_t prefix_dim = 0;
};

// Queries per chunk: about 4 chunks per thread, but at least min_chunk queries (more reuse of
// each list and candidate row read) as long as every thread still gets a chunk; at most
// max_chunk, and the chunk's shortlists (2 K1 entries of 16 bytes and 4 K1 floats per query)
// bounded to about 64 MiB. Then evened out: the number of chunks a multiple of the thread count,
// so that no thread is left with one chunk more than the others (10,000 queries in chunks of at
// most 4,096 on 2 threads: 4 of 2,500, not 4,096 + 4,096 + 1,808).
inline std::size_t chunk_size(std::size_t nq, std::size_t K1, std::size_t min_chunk, std::size_t max_chunk) {
    const std::size_t nthreads = static_cast<std::size_t>(max_threads());
    const std::size_t per_thread = (nq + nthreads - 1) / nthreads;
    std::size_t chunk = std::max<std::size_t>((nq + 4 * nthreads - 1) / (4 * nthreads), std::min(per_thread, min_chunk));
    chunk = std::max<std::size_t>(1, std::min({chunk, max_chunk, (std::size_t(64) << 20) / (48 * K1)}));
    std::size_t nchunks = (nq + chunk - 1) / chunk;
    nchunks = (nchunks + nthreads - 1) / nthreads * nthreads;
    return std::max<std::size_t>(1, (nq + nchunks - 1) / nchunks);
}

// Queries per block of a search whose probe table (nq x nprobe list numbers) is built block by
// block: the table stays within about 64 MiB whatever nq and nprobe (nq = 1e6 with nprobe =
// 2048 would need 16 GiB at once; a block still holds 4096 queries there, a whole query chunk). Every per-chunk buffer of batch_search is bounded as well.
inline std::size_t probe_block_size(std::size_t nprobe) {
    return std::max<std::size_t>(1, (std::size_t(64) << 20) / (sizeof(int64_t) * std::max<std::size_t>(1, nprobe)));
}

namespace detail {

// Per-query shortlists over one candidate array (2 K1 entries per query) and one array of
// compaction scratch (4 K1 floats per query): 48 bytes per K1 per query.
struct Shortlists {
    std::vector<Candidate> cand;
    std::vector<float> scratch;
    std::vector<TopKBuffer> heaps;
    Shortlists(std::size_t cq, std::size_t K1) : cand(cq * 2 * K1), scratch(cq * 4 * K1) {
        heaps.reserve(cq);
        const Kernels& kt = kernels();
        for (std::size_t j = 0; j < cq; ++j)
            heaps.emplace_back(cand.data() + j * 2 * K1, K1, scratch.data() + j * 4 * K1, kt.select, kt.kth);
    }
};

}  // namespace detail

// probes: nq x nprobe lists per query. xq: the rerank queries (nq x dim; only read when
// rerank_k > 0 or qscale_dim > 0). rows may be null when rerank_k == 0.
//
// The batch is spread over the threads in query chunks (about 4 per thread, or as few as one per
// thread with a large min_chunk; one thread per chunk, chunk counts a multiple of the thread
// count); results do not depend on the chunking (each shortlist keeps exactly the K1 smallest
// (distance, label) pairs, whatever order they arrive in). A list-parallel mode (all threads on
// one chunk, split by lists, per-thread shortlists merged per query) was measured against
// query chunks of one per thread and removed: 0.97-1.02x the time for a 384-dim scan with k 10,
// 1.03-1.10x with shorter rows or longer shortlists (98k x 384 real embeddings, 2 threads).
template <class Scanner, class RowSource>
void batch_search(const Scanner& sc, const RowSource* rows, const BatchSpec& s, const int64_t* probes,
                  const float* xq, float* D, int64_t* I, SearchStats* stats = nullptr) {
    const std::size_t k = s.k, nprobe = s.nprobe, nlist = s.nlist;
    const bool rerank = s.rerank_k > 0;
    const std::size_t p0 = rerank && s.prefix_dim < s.rerank_dim ? s.prefix_dim : 0;  // dims already scored
    // Shortlist length: a rerank_k beyond what the nprobe largest lists hold cannot be filled,
    // so the shortlists (and the rerank) are bounded by the rows a query can actually scan.
    std::size_t reachable = 0;
    {
        std::vector<std::size_t> sizes(nlist);
        for (std::size_t l = 0; l < nlist; ++l) sizes[l] = sc.list_size(l);
        const std::size_t np = std::min(nprobe, nlist);
        std::nth_element(sizes.begin(), sizes.begin() + (np - 1), sizes.end(), std::greater<std::size_t>());
        for (std::size_t l = 0; l < np; ++l) reachable += sizes[l];
    }
    const std::size_t K1 = rerank ? std::max(k, std::min(s.rerank_k, reachable)) : k;
    const StageMetric rerank_m(s.metric, rerank ? s.rerank_dim : s.dim, s.dim);
    const std::size_t tile = sc.tile_rows();
    constexpr std::size_t kMB = Scanner::kMembersPerCall;
    constexpr std::size_t kFilterBlock = 32;  // filtered search: granularity of the skipped row blocks
    const bool l2 = s.metric == kMetricL2;
    const float missing = l2 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
    std::mutex stats_mu;

    // Scan stage for lists [lb, le) of a chunk (queries qb + group members): threshold push of
    // every scored row into the member's shortlist. Returns the (query, row) pairs scored.
    auto scan_lists = [&](typename Scanner::Chunk& chunk, const ListGroups& groups, std::size_t lb, std::size_t le,
                          std::vector<TopKBuffer>& heaps, std::vector<float>& dist) {
        std::size_t scanned = 0;
        // Rows [r0, r0 + t) of list l scored for all members of the list, pushed into their shortlists.
        auto scan_rows = [&](std::size_t l, std::size_t mb, std::size_t me, std::size_t r0, std::size_t t,
                             const int64_t* fid) {
            for (std::size_t m0 = mb; m0 < me; m0 += kMB) {
                cancel_point();  // a tile for kMB queries: microseconds
                const std::size_t m = std::min(kMB, me - m0);
                const uint32_t* mem = groups.members.data() + m0;
                sc.scan_tile(chunk, l, r0, t, mem, m, dist.data());
                for (std::size_t i = 0; i < m; ++i) {
                    TopKBuffer& h = heaps[mem[i]];
                    const float* d = dist.data() + i * t;
                    if (!fid) {
                        h.push_run(d, t, make_label(l, r0));
                        continue;
                    }
                    float thr = h.threshold();
                    for (std::size_t r = 0; r < t; ++r) {
                        if (d[r] <= thr && s.filter->allows(fid[r0 + r])) {  // filtered search
                            h.push(d[r], make_label(l, r0 + r));
                            thr = h.threshold();
                        }
                    }
                }
            }
            scanned += t * (me - mb);
        };
        for (std::size_t l = lb; l < le; ++l) {
            const std::size_t mb = groups.start[l], me = groups.start[l + 1];
            if (mb == me) continue;
            const std::size_t n = sc.list_size(l);
            if (n == 0) continue;
            sc.begin_list(chunk, l, groups.members.data() + mb, me - mb);
            const int64_t* fid = s.filter ? sc.ids(l) : nullptr;  // filtered search: ids of the rows
            for (std::size_t r0 = 0; r0 < n; r0 += tile) {
                const std::size_t t = std::min(tile, n - r0);
                if (!fid || !Scanner::kFilterSpans) {
                    scan_rows(l, mb, me, r0, t, fid);
                    continue;
                }
                // Filtered search: only the spans of kFilterBlock-row blocks that hold an allowed
                // row are scored (at low selectivity most blocks hold none).
                std::size_t a = 0;
                while (a < t) {
                    auto any_allowed = [&](std::size_t b) {
                        for (std::size_t r = b, e = std::min(t, b + kFilterBlock); r < e; ++r)
                            if (s.filter->allows(fid[r0 + r])) return true;
                        return false;
                    };
                    while (a < t && !any_allowed(a)) a += kFilterBlock;
                    if (a >= t) break;
                    std::size_t e = a + kFilterBlock;
                    while (e < t && any_allowed(e)) e += kFilterBlock;
                    e = std::min(e, t);
                    scan_rows(l, mb, me, r0 + a, e - a, fid);
                    a = e;
                }
            }
        }
        return scanned;
    };

    // Rerank stage, over a round of chunks (below). Its (query, candidate) pairs are bucketed by
    // list (counting sort; each chunk scatters its own pairs) as keys (row, pair, partial), pair =
    // j * K1 + i for candidate i of the round's query j; within a list they are sorted by row, so
    // a row wanted by several queries of the round is read once and scored against all of them by
    // one kernel call (the rerank form: one row x several queries), the rows of a list are visited
    // in address order, and the next distinct rows are prefetched. The lists are split over the
    // threads. The exact distances go to a compact array (rd[pair]) and are copied back per query.
    // With p0 = BatchSpec::prefix_dim > 0, a key carries the scan's exact partial on dims [0, p0)
    // (read with the key, in list order, not from an array indexed by pair: random over the
    // round) and the rerank reads and adds only dims [p0, rerank_dim) of the row.
    struct RerankKey {
        uint32_t row, pair;
        float part;  // the scan's raw partial (IP: the similarity); read only when p0 > 0
    };
    struct RerankWork {
        std::vector<uint32_t> bucket;  // nlist + 1 offsets into keys
        std::vector<uint32_t> pos;     // next key's position per (chunk of the round, list), or per list
        std::vector<RerankKey> keys;
        std::vector<float> rd;
    };
    // The pairs of a chunk's shortlists counted per list (cnt[l]); then scattered to their keys
    // from each list's position pos[l] for the chunk (round queries [jr, jr + heaps.size())).
    auto count_pairs = [&](const std::vector<TopKBuffer>& heaps, const std::size_t* found, uint32_t* cnt) {
        for (std::size_t j = 0; j < heaps.size(); ++j)
            for (std::size_t i = 0; i < found[j]; ++i) ++cnt[label_list(heaps[j].data()[i].label)];
    };
    auto scatter_pairs = [&](const std::vector<TopKBuffer>& heaps, const std::size_t* found, std::size_t jr,
                             uint32_t* pos, RerankWork& w) {
        for (std::size_t j = 0; j < heaps.size(); ++j)
            for (std::size_t i = 0; i < found[j]; ++i) {
                const Candidate& c = heaps[j].data()[i];
                const std::size_t pair = (jr + j) * K1 + i;
                w.keys[pos[label_list(c.label)]++] = RerankKey{static_cast<uint32_t>(label_row(c.label)),
                                                               static_cast<uint32_t>(pair), l2 ? c.d : -c.d};
            }
    };
    const RerankFn rerank_fn = kernels().rerank;
    const std::size_t row_lines = ((s.rerank_dim - p0) * sizeof(float) + 63) / 64;
    // Distinct rows in flight: about 96 cache lines (4 rows of 384 floats, 16 of 96 or fewer).
    const std::size_t ahead = std::max<std::size_t>(4, std::min<std::size_t>(16, 96 / std::max<std::size_t>(1, row_lines)));
    // Lists [lb, le) of a round whose first query is qr (of the batch).
    auto rerank_lists = [&](std::size_t qr, RerankWork& w, std::size_t lb, std::size_t le) {
        std::vector<uint32_t> group;  // starts of the runs of equal row (+ end)
        std::vector<uint32_t> count;  // counting sort by row
        std::vector<RerankKey> sorted;
        std::vector<const float*> qs;
        std::vector<float> out;
        auto prefetch = [&](const float* x) { prefetch_span(x, (s.rerank_dim - p0) * sizeof(float)); };
        for (std::size_t l = lb; l < le; ++l) {
            RerankKey* key = w.keys.data() + w.bucket[l];
            const std::size_t n = w.bucket[l + 1] - w.bucket[l];
            if (n == 0) continue;
            // By row: a counting sort where the list is not much longer than its pairs (rows are
            // below the list size), else a comparison sort. The order within a row is free.
            const std::size_t nrows = sc.list_size(l);
            if (nrows <= 8 * n) {
                count.assign(nrows + 1, 0);
                for (std::size_t u = 0; u < n; ++u) ++count[key[u].row + 1];
                for (std::size_t r = 0; r < nrows; ++r) count[r + 1] += count[r];
                sorted.resize(n);
                for (std::size_t u = 0; u < n; ++u) sorted[count[key[u].row]++] = key[u];
                std::copy(sorted.begin(), sorted.end(), key);
            } else {
                std::sort(key, key + n, [](const RerankKey& a, const RerankKey& b) { return a.row < b.row; });
            }
            group.clear();
            for (std::size_t u = 0; u < n; ++u)
                if (u == 0 || key[u].row != key[u - 1].row) group.push_back(static_cast<uint32_t>(u));
            const std::size_t ng = group.size();
            group.push_back(static_cast<uint32_t>(n));
            auto row_at = [&](std::size_t g) { return rows->row(l, key[group[g]].row) + p0; };
            for (std::size_t g = 0; g < std::min(ahead, ng); ++g) prefetch(row_at(g));
            for (std::size_t g = 0; g < ng; ++g) {
                if (g % 256 == 0) cancel_point();
                if (g + ahead < ng) prefetch(row_at(g + ahead));
                const std::size_t ub = group[g], m = group[g + 1] - ub;
                qs.resize(m);
                out.resize(m);
                for (std::size_t i = 0; i < m; ++i)
                    qs[i] = xq + (qr + key[ub + i].pair / K1) * s.dim + p0;
                float xn = 0.f;
                rerank_fn(rerank_m.kind, row_at(g), qs.data(), m, s.rerank_dim - p0, out.data(), &xn);
                for (std::size_t i = 0; i < m; ++i)
                    w.rd[key[ub + i].pair] = rerank_m.finish(p0 ? key[ub + i].part + out[i] : out[i], xn);
            }
        }
    };
    // After the rerank: for each query of a chunk (round queries [jr, jr + heaps.size())), its
    // best k by exact distance into the first slots of its shortlist, sorted (the rest is never
    // output).
    auto sort_best = [&](std::vector<TopKBuffer>& heaps, const std::size_t* found, const RerankWork& w, std::size_t jr) {
        std::vector<uint32_t> idx(K1 + kSelectSlack);
        for (std::size_t j = 0; j < heaps.size(); ++j)
            if (found[j] > 0) heaps[j].best_rescored(w.rd.data() + (jr + j) * K1, found[j], std::min(k, found[j]), idx.data());
    };

    // Output stage for the queries of a chunk starting at qb (of the batch).
    auto output = [&](std::size_t qb, std::vector<TopKBuffer>& heaps) {
        for (std::size_t j = 0; j < heaps.size(); ++j) {
            const float* q = xq ? xq + (qb + j) * s.dim : nullptr;
            Candidate* c = heaps[j].data();
            float qscale = 1.f;
            if (s.qscale_dim > 0) {
                const float qn = l2norm(q, s.qscale_dim);
                qscale = qn > 0.f ? 1.f / qn : 0.f;
            }
            float* Dq = D + (qb + j) * k;
            int64_t* Iq = I + (qb + j) * k;
            for (std::size_t i = 0; i < k; ++i) {
                if (c[i].label < 0) {
                    Dq[i] = missing;
                    Iq[i] = -1;
                    continue;
                }
                Dq[i] = l2 ? c[i].d : -c[i].d * qscale;
                Iq[i] = sc.ids(label_list(c[i].label))[label_row(c[i].label)];
            }
        }
    };

    auto add_stats = [&](double scan_s, double rerank_s, double output_s, std::size_t scanned, std::size_t reranked) {
        if (!stats) return;
        std::lock_guard<std::mutex> lock(stats_mu);
        stats->scan_s += scan_s;
        stats->rerank_s += rerank_s;
        stats->output_s += output_s;
        stats->rows_scanned += scanned;
        stats->candidates_reranked += reranked;
    };

    // Rounds of chunks. The chunks of a round are scanned in parallel (one thread per chunk);
    // with a rerank, the round's shortlists are then reranked together, split by lists over the
    // threads, so that a candidate row wanted by queries of different chunks is read once (2,000
    // real queries with rerank_k 100: 34% of the pairs are distinct rows over the batch, 50% over
    // chunks of 1,000). A round holds a chunk per thread, or more (up to about 4,096 queries)
    // where the chunks are small, within the memory bound of P chunks' shortlists and with the
    // round's pairs numbered in 32 bits.
    const std::size_t chunk = chunk_size(s.nq, K1, s.min_chunk, s.max_chunk);
    const std::size_t nchunks = (s.nq + chunk - 1) / chunk;
    const std::size_t P = static_cast<std::size_t>(max_threads());
    std::size_t per_round = nchunks;  // without a rerank, the chunks share nothing: one round
    if (rerank) {
        per_round = std::max(P, (4096 + chunk - 1) / chunk);
        per_round = std::min(per_round, std::max<std::size_t>(P, P * ((std::size_t(64) << 20) / (48 * K1)) / chunk));
        per_round = std::max<std::size_t>(1, std::min(per_round, (std::size_t(1) << 31) / (chunk * K1)));
    }
    for (std::size_t c0 = 0; c0 < nchunks; c0 += per_round) {
        const std::size_t nc = std::min(per_round, nchunks - c0);
        const std::size_t qr = c0 * chunk, nr = std::min(s.nq - qr, nc * chunk);
        std::vector<std::unique_ptr<detail::Shortlists>> sl(nc);
        std::vector<std::size_t> found(nr);
        RerankWork w;
        // The pairs are counted per (chunk, list) in a table (nc x nlist) and each chunk scatters
        // its own, where the table is not larger than the round's pairs can be (nr x K1) and at
        // most 64 MiB; else they are counted and scattered on this thread (few pairs: a single
        // query, or many lists).
        const bool table = rerank && nc * nlist <= std::min<std::size_t>(std::size_t(16) << 20, nr * K1);
        if (table) w.pos.assign(nc * nlist, 0);
        // Scan (and, without a rerank, output) each chunk of the round.
        parallel_for_chunks(nc, 1, [&](std::size_t ci, std::size_t) {
            const std::size_t jr = ci * chunk, cq = std::min(chunk, nr - jr), qb = qr + jr;
            sl[ci] = std::make_unique<detail::Shortlists>(cq, K1);
            std::vector<TopKBuffer>& heaps = sl[ci]->heaps;
            const auto t0 = Clock::now();
            typename Scanner::Chunk ch = sc.begin_chunk(qb, cq);
            const ListGroups groups = group_by_list(probes + qb * nprobe, cq, nprobe, nlist);
            std::vector<float> dist(kMB * tile);
            const std::size_t scanned = scan_lists(ch, groups, 0, nlist, heaps, dist);
            const auto t1 = Clock::now();
            std::size_t reranked = 0;
            for (std::size_t j = 0; j < cq; ++j) {
                found[jr + j] = rerank ? heaps[j].select() : heaps[j].finalize();
                reranked += rerank ? found[jr + j] : 0;
            }
            if (rerank) {
                if (table) count_pairs(heaps, found.data() + jr, w.pos.data() + ci * nlist);
                add_stats(seconds(t0, t1), seconds(t1, Clock::now()), 0.0, scanned, reranked);
                return;
            }
            output(qb, heaps);
            sl[ci].reset();
            add_stats(seconds(t0, t1), 0.0, seconds(t1, Clock::now()), scanned, 0);
        });
        if (!rerank) continue;
        // Bucket offsets by list; each chunk's first position in each list.
        auto t0 = Clock::now();
        w.bucket.assign(nlist + 1, 0);
        w.rd.resize(nr * K1);
        if (table) {
            for (std::size_t l = 0; l < nlist; ++l) {
                std::size_t at = w.bucket[l];
                for (std::size_t ci = 0; ci < nc; ++ci) {
                    const uint32_t n = w.pos[ci * nlist + l];
                    w.pos[ci * nlist + l] = static_cast<uint32_t>(at);
                    at += n;
                }
                w.bucket[l + 1] = static_cast<uint32_t>(at);
            }
            w.keys.resize(w.bucket[nlist]);
            add_stats(0.0, seconds(t0, Clock::now()), 0.0, 0, 0);
            parallel_for_chunks(nc, 1, [&](std::size_t ci, std::size_t) {
                const auto t = Clock::now();
                scatter_pairs(sl[ci]->heaps, found.data() + ci * chunk, ci * chunk, w.pos.data() + ci * nlist, w);
                add_stats(0.0, seconds(t, Clock::now()), 0.0, 0, 0);
            });
        } else {
            for (std::size_t ci = 0; ci < nc; ++ci) count_pairs(sl[ci]->heaps, found.data() + ci * chunk, w.bucket.data() + 1);
            for (std::size_t l = 0; l < nlist; ++l) w.bucket[l + 1] += w.bucket[l];
            w.pos.assign(w.bucket.begin(), w.bucket.end() - 1);
            w.keys.resize(w.bucket[nlist]);
            for (std::size_t ci = 0; ci < nc; ++ci)
                scatter_pairs(sl[ci]->heaps, found.data() + ci * chunk, ci * chunk, w.pos.data(), w);
            add_stats(0.0, seconds(t0, Clock::now()), 0.0, 0, 0);
        }
        // Lists in parts of about equal pairs, a few per thread (one where the pairs are few).
        const std::size_t total = w.keys.size();
        const std::size_t nparts = P > 1 && total >= 4096 ? std::min(nlist, 4 * P) : 1;
        std::vector<std::size_t> part(nparts + 1, nlist);
        part[0] = 0;
        for (std::size_t b = 1, l = 0; b < nparts; ++b) {
            while (l < nlist && w.bucket[l] < total * b / nparts) ++l;
            part[b] = l;
        }
        parallel_for_chunks(nparts, 1, [&](std::size_t b, std::size_t) {
            const auto t = Clock::now();
            rerank_lists(qr, w, part[b], part[b + 1]);
            add_stats(0.0, seconds(t, Clock::now()), 0.0, 0, 0);
        });
        parallel_for_chunks(nc, 1, [&](std::size_t ci, std::size_t) {
            const std::size_t jr = ci * chunk;
            std::vector<TopKBuffer>& heaps = sl[ci]->heaps;
            const auto t1 = Clock::now();
            sort_best(heaps, found.data() + jr, w, jr);
            const auto t2 = Clock::now();
            output(qr + jr, heaps);
            add_stats(0.0, seconds(t1, t2), seconds(t2, Clock::now()), 0, 0);
        });
    }
}

}  // namespace adanns
