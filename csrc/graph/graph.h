// GraphCore: a Vamana graph (DiskANN's robust prune, alpha > 1) built and walked on a prefix
// of the vectors, with an exact rerank of the best candidates on (a prefix of) the full rows.
//
// Storage: the full rows (n x dim, contiguous: the rerank reads whole rows), a compact copy
// of their first graph_dim dims (n x graph_dim: the walk reads only these) as float32, or as
// 8-bit codes (per-dim affine scalar quantisation: a quarter of the bytes per hop; the build
// then reads the float prefix of the full rows), a fixed-degree
// adjacency (n x degree uint32 + a degree per node), external ids and a deleted flag.
// For cosine the stored vectors are normalised (full dim).
//
// Build = incremental insertion in batches of doubling size (capped), each batch searched
// in parallel against the graph frozen at the batch start, then its edges and reverse
// edges written in a fixed order: the graph depends only on the data, the seed and the
// sequence of add() calls, never on the thread count or timing.
//
// Thread safety: searches run concurrently (shared lock); add, remove_ids, consolidate and
// set_graph take the lock exclusively.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/huge_pages.h"
#include "common/row_filter.h"
#include "graph/sq8.h"
#include "storage/rerank_store.h"
#include "visited.h"

namespace adanns {

class TopK;

struct GraphParams {
    std::size_t dim = 0;
    std::size_t graph_dim = 0;    // prefix the graph is built (and by default walked) on
    std::size_t degree = 32;      // max out-degree R
    std::size_t build_beam = 64;  // beam (L) of the insertion searches
    float alpha = 1.2f;           // robust-prune slack (> 1 keeps longer edges)
    uint64_t seed = 1234;         // insertion order
    int metric = 0;               // kMetricL2 / kMetricIP / kMetricCosine
    int store = 0;                // walk store: 0 float32 prefix copy, 1 8-bit codes (kStoreSq8)
};

constexpr int kStoreFloat = 0;
constexpr int kStoreSq8 = 1;

class GraphCore {
public:
    static constexpr uint32_t kNone = 0xFFFFFFFFu;  // padding of the exported adjacency
    // The int8 store codes its first min(kSq8Wide, graph_dim) dims in 16 bits (their quantiser
    // steps span [min, max] in 65535 steps, not 255): a row is graph_dim + that many bytes.
    static constexpr std::size_t kSq8Wide = adanns::kSq8Wide;  // (graph/sq8.h)

    explicit GraphCore(const GraphParams& p);

    const GraphParams& params() const { return p_; }
    std::size_t ntotal() const;   // live (not deleted) vectors
    std::size_t nstored() const;  // including the deleted ones not yet consolidated
    std::size_t ndeleted() const;
    uint32_t entry() const;

    // Appends n rows (n x dim) with ids (null: next_id, next_id + 1, ...) and links them in.
    // progress (optional): called on this thread after each insertion batch with the number of
    // the n rows linked in so far (a progress bar; it must not touch the index).
    void add(const float* x, const int64_t* ids, std::size_t n,
             const std::function<void(std::size_t)>* progress = nullptr);

    // Top-k of nq queries (nq x dim): beam search on the first walk_dim dims of the graph
    // prefix with a pool of max(beam, k) candidates, then the best max(k, rerank_k) live
    // candidates re-scored exactly on rerank_dim dims. D, I are nq x k; distances as the
    // metric's (squared L2 ascending; ip / cosine similarities descending), (-1, +-inf)
    // padding when fewer than k live vectors were found.
    // filter (optional): rows whose id it rejects are walked through but never returned, like
    // deleted ones (the walk's pool of max(beam, k) must hold enough allowed rows).
    void search(const float* xq, std::size_t nq, std::size_t k, std::size_t beam, std::size_t rerank_k,
                std::size_t rerank_dim, std::size_t walk_dim, float* D, int64_t* I,
                const RowFilter* filter = nullptr) const;
    // Exact top-k on rerank_dim dims over every live vector (ground truth for tuning).
    void search_exact(const float* xq, std::size_t nq, std::size_t k, std::size_t rerank_dim, float* D,
                      int64_t* I) const;

    // Marks every stored vector whose id is in ids as deleted; returns how many.
    std::size_t remove_ids(const int64_t* ids, std::size_t n);
    // Repairs the edges around deleted nodes (DiskANN's consolidation) and drops them.
    void consolidate();

    // Persistence: the live graph (call consolidate() first to drop deleted nodes).
    std::vector<float> export_vectors() const;
    std::vector<int64_t> export_ids() const;
    std::vector<uint32_t> export_neighbors() const;  // n x degree, kNone-padded
    std::vector<float> export_sq() const;             // 2 x graph_dim: lo, step (empty unless sq8 with data)
    int64_t next_id() const;
    // Replaces the contents; every value is checked (throws std::invalid_argument).
    // sq: the 2 x graph_dim quantiser of an sq8 store (null: fitted to the vectors).
    // map_path (non-empty): the full rows are then served memory-mapped read-only from that file
    // at byte map_offset (which must hold the same n x dim floats as `vectors`), not copied.
    void set_graph(const float* vectors, const int64_t* ids, const uint32_t* neighbors, std::size_t n,
                   uint32_t entry, int64_t next_id, const float* sq, const std::string& map_path = "",
                   std::size_t map_offset = 0);
    // True while the full rows are served from a mapped file (add / consolidate copy them to RAM).
    bool vectors_mapped() const;

    // Nodes reachable from the entry point (a test of connectivity).
    std::size_t reachable() const;

private:
    struct Cand {
        float d;
        uint32_t id;
    };
    struct Scratch;
    // What a walk measures: a float query over the float rows (build geometry or float store),
    // or a prepared query over the 8-bit codes.
    struct Walk {
        int kind;
        const float* q;    // the query (float), or in code space (int8 store: q * step for ip)
        const float* wgt;
        std::size_t w;
        bool sq8;
        const int16_t* q16 = nullptr;  // the 16-bit query of an int8 inner-product walk (dims wide..w)
        float inv_scale = 1.f;
    };
    std::size_t sq_wide() const { return p_.graph_dim < kSq8Wide ? p_.graph_dim : kSq8Wide; }
    std::size_t code_bytes() const { return p_.graph_dim + sq_wide(); }  // one int8-store row
    const float* fbase() const { return p_.store == kStoreSq8 ? vectors_.data() : prefix_.data(); }
    // Exact distances of rows idx[0..m) on rerank_dim dims pushed into top (ip / cosine negated).
    void rescore(const float* q, const uint32_t* idx, std::size_t m, std::size_t rerank_dim, Scratch& s,
                 TopK& top) const;
    std::size_t fstride() const { return p_.store == kStoreSq8 ? p_.dim : p_.graph_dim; }
    const float* frow(std::size_t i) const { return fbase() + i * fstride(); }
    void fit_sq(const float* x, std::size_t n, std::size_t stride);
    void encode(std::size_t begin, std::size_t end);

    // add's work, under its lock
    void add_rows(const float* x, const int64_t* ids, std::size_t n, std::size_t old,
                  const std::function<void(std::size_t)>* progress);
    void insert_range(std::size_t begin, std::size_t end, const std::function<void(std::size_t)>* progress = nullptr);
    std::size_t beam_search(const Walk& wk, std::size_t L, VisitedTable& vt, Scratch& s, bool keep_expanded,
                            std::size_t keep = 0) const;
    void robust_prune(uint32_t p, std::vector<Cand>& cands, std::vector<uint32_t>& out, Scratch& s) const;
    uint32_t medoid() const;
    void repair_connectivity();
    // Depth-first flood over the edges from `from`, marking seen[v] = 1 (seen holds one flag per
    // stored node; stack is scratch); returns how many nodes it newly marked.
    std::size_t mark_reachable(uint32_t from, std::vector<uint8_t>& seen, std::vector<uint32_t>& stack) const;
    void set_neighbors(uint32_t p, const std::vector<uint32_t>& nb);
    // The undo journal of an add: the edges of the nodes that existed before it ([0, limit)) are
    // saved the first time the insertion rewrites them (journal(p), before the write), so a
    // failed or interrupted add restores just those rows, not a copy of the whole adjacency
    // taken up front. Inactive (limit 0) outside add.
    struct EdgeJournal {
        std::size_t limit = 0;
        std::vector<uint8_t> saved;                  // one flag per old node
        std::vector<std::vector<uint32_t>> entries;  // per thread: node, degree, its degree-row, ...
    };
    void journal(uint32_t p);
    void undo_journal();

    GraphParams p_;
    int build_kind_;
    RerankStore vectors_;          // nstored x dim (in RAM, or mapped from the index file)
    // the arrays every hop reads at random sit on huge pages where the system allows: 2 MiB pages
    // cut the TLB misses of the walk (int8 walk 1.2x, float32 1.1x faster on 98k x 192)
    template <class T>
    using HugeVec = std::vector<T, HugePageAllocator<T>>;
    HugeVec<float> prefix_;        // nstored x graph_dim (float store)
    HugeVec<uint8_t> codes_;       // nstored x code_bytes() (sq8 store)
    std::vector<float> sq_lo_, sq_step_;  // graph_dim each (sq8 store, fitted at the first add)
    HugeVec<uint32_t> adj_;        // nstored x degree
    HugeVec<uint32_t> deg_;        // nstored
    EdgeJournal journal_;
    std::vector<int64_t> ids_;     // nstored
    std::vector<uint8_t> deleted_;  // nstored
    std::size_t ndeleted_ = 0;
    uint32_t entry_ = 0;
    int64_t next_id_ = 0;

    mutable VisitedPool visited_;
    mutable std::shared_mutex mu_;
};

}  // namespace adanns
