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
#include <mutex>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/labels.h"
#include "common/list_groups.h"
#include "common/metric.h"
#include "common/norms.h"
#include "common/parallel.h"
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
};

// Queries per chunk: about 4 chunks per thread, within [min(nq, min_chunk), max_chunk], and the
// chunk's shortlists (2 K1 entries of 16 bytes per query) bounded to about 64 MiB.
inline std::size_t chunk_size(std::size_t nq, std::size_t K1, std::size_t min_chunk, std::size_t max_chunk) {
    const std::size_t nthreads = static_cast<std::size_t>(max_threads());
    std::size_t chunk = std::max<std::size_t>(
        1, std::min<std::size_t>(max_chunk, std::max<std::size_t>((nq + 4 * nthreads - 1) / (4 * nthreads),
                                                                  std::min<std::size_t>(nq, min_chunk))));
    return std::max<std::size_t>(1, std::min(chunk, (std::size_t(64) << 20) / (32 * K1)));
}

// probes: nq x nprobe lists per query. xq: the rerank queries (nq x dim; only read when
// rerank_k > 0 or qscale_dim > 0). rows may be null when rerank_k == 0.
template <class Scanner, class RowSource>
void batch_search(const Scanner& sc, const RowSource* rows, const BatchSpec& s, const int64_t* probes,
                  const float* xq, float* D, int64_t* I, SearchStats* stats = nullptr) {
    std::mutex stats_mu;
    const std::size_t k = s.k, nprobe = s.nprobe, nlist = s.nlist;
    const bool rerank = s.rerank_k > 0;
    const std::size_t K1 = rerank ? std::max(k, s.rerank_k) : k;
    const StageMetric rerank_m(s.metric, rerank ? s.rerank_dim : s.dim, s.dim);
    const ScanFn scan = kernels().scan;
    const std::size_t tile = sc.tile_rows();
    constexpr std::size_t kMB = Scanner::kMembersPerCall;
    const bool l2 = s.metric == kMetricL2;
    const float missing = l2 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();

    parallel_for_chunks(s.nq, chunk_size(s.nq, K1, s.min_chunk, s.max_chunk), [&](std::size_t qb, std::size_t qe) {
        const std::size_t cq = qe - qb;
        std::vector<Candidate> cand(cq * 2 * K1);
        std::vector<TopKBuffer> heaps;
        heaps.reserve(cq);
        for (std::size_t j = 0; j < cq; ++j) heaps.emplace_back(cand.data() + j * 2 * K1, K1);
        const auto t_begin = Clock::now();
        typename Scanner::Chunk chunk = sc.begin_chunk(qb, cq);
        std::size_t scanned = 0;

        // Scan stage: list-major over the chunk's probed lists, tile by tile.
        const ListGroups groups = group_by_list(probes + qb * nprobe, cq, nprobe, nlist);
        std::vector<float> dist(kMB * tile);
        for (std::size_t l = 0; l < nlist; ++l) {
            const std::size_t mb = groups.start[l], me = groups.start[l + 1];
            if (mb == me) continue;
            const std::size_t n = sc.list_size(l);
            if (n == 0) continue;
            const uint32_t* members = groups.members.data() + mb;
            sc.begin_list(chunk, l, members, me - mb);
            scanned += n * (me - mb);
            for (std::size_t r0 = 0; r0 < n; r0 += tile) {
                const std::size_t t = std::min(tile, n - r0);
                for (std::size_t m0 = mb; m0 < me; m0 += kMB) {
                    const std::size_t m = std::min(kMB, me - m0);
                    const uint32_t* mem = groups.members.data() + m0;
                    sc.scan_tile(chunk, l, r0, t, mem, m, dist.data());
                    // Threshold push into each member's shortlist.
                    for (std::size_t i = 0; i < m; ++i) {
                        TopKBuffer& h = heaps[mem[i]];
                        const float* d = dist.data() + i * t;
                        float thr = h.threshold();
                        for (std::size_t r = 0; r < t; ++r) {
                            if (d[r] <= thr) {
                                h.push(d[r], make_label(l, r0 + r));
                                thr = h.threshold();
                            }
                        }
                    }
                }
            }
        }

        const auto t_scan = Clock::now();

        // Rerank stage, list-major over the whole chunk: every (query, candidate) pair is
        // bucketed by the list of its row (a counting sort), so the rows of one list are read
        // together while they are cached, a row wanted by several queries of the chunk is read
        // from memory once, and the rows of the next pairs are prefetched.
        std::vector<std::size_t> found(cq);
        for (std::size_t j = 0; j < cq; ++j) found[j] = heaps[j].finalize();
        if (rerank) {
            std::vector<uint32_t> bucket(nlist + 1, 0);
            for (std::size_t j = 0; j < cq; ++j)
                for (std::size_t i = 0; i < found[j]; ++i) ++bucket[label_list(heaps[j].data()[i].label) + 1];
            for (std::size_t l = 0; l < nlist; ++l) bucket[l + 1] += bucket[l];
            const std::size_t npairs = bucket[nlist];
            std::vector<uint32_t> pairs(npairs);  // index into cand (query j at j * 2 K1)
            for (std::size_t j = 0; j < cq; ++j)
                for (std::size_t i = 0; i < found[j]; ++i)
                    pairs[bucket[label_list(heaps[j].data()[i].label)]++] = static_cast<uint32_t>(j * 2 * K1 + i);
            auto row_of = [&](uint32_t pr) {
                return rows->row(label_list(cand[pr].label), label_row(cand[pr].label));
            };
            const std::size_t row_bytes = s.rerank_dim * sizeof(float);
            auto prefetch = [&](const float* x) {
                const char* p = reinterpret_cast<const char*>(x);
                for (std::size_t o = 0; o < row_bytes; o += 64) __builtin_prefetch(p + o);
            };
            constexpr std::size_t kAhead = 4;
            for (std::size_t u = 0; u < std::min(kAhead, npairs); ++u) prefetch(row_of(pairs[u]));
            for (std::size_t u = 0; u < npairs; ++u) {
                if (u + kAhead < npairs) prefetch(row_of(pairs[u + kAhead]));
                const uint32_t pr = pairs[u];
                float a = 0.f, an = 0.f;
                scan(rerank_m.kind, xq + (qb + pr / (2 * K1)) * s.dim, row_of(pr), 1, s.dim, s.rerank_dim, &a, &an);
                cand[pr].d = rerank_m.finish(a, an);
            }
            for (std::size_t j = 0; j < cq; ++j) std::sort(heaps[j].data(), heaps[j].data() + found[j]);
        }
        const auto t_rerank = Clock::now();

        // Output stage.
        for (std::size_t j = 0; j < cq; ++j) {
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
        if (stats) {
            std::lock_guard<std::mutex> lock(stats_mu);
            stats->scan_s += seconds(t_begin, t_scan);
            stats->rerank_s += seconds(t_scan, t_rerank);
            stats->output_s += seconds(t_rerank, Clock::now());
            stats->rows_scanned += scanned;
            for (std::size_t j = 0; j < cq; ++j) stats->candidates_reranked += rerank ? found[j] : 0;
        }
    });
}

}  // namespace adanns
