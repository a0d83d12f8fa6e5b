// The AdANNS-IVF index core: coarse quantizer on a prefix, inverted lists of full rows
// (storage/invlists.h), and the three-stage search (probe, prefix scan, rerank).
// A flat (exact) index is the same core with one list and no coarse stage.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/row_filter.h"

#include "common/huge_pages.h"
#include "common/metric.h"
#include "common/stats.h"
#include "ivf/sq8_blocks.h"
#include "storage/invlists.h"
#include "quant/kmeans.h"

namespace adanns {

struct SearchParams {
    std::size_t k = 10;
    std::size_t nprobe = 1;
    std::size_t scan_dim = 0;    // dims used by the list scan
    std::size_t rerank_k = 0;    // 0: no rerank
    std::size_t rerank_dim = 0;  // dims used by the rerank
    std::size_t probe_dim = 0;   // dims used by the coarse probe (1..coarse_dim; 0: coarse_dim)
    bool int8_scan = false;      // scan the int8 copy (ScanCodes) instead of the float rows
};

// The int8 scan store of an IVF index: every stored row coded by one per-dim quantiser
// (graph/sq8.h: the first kSq8Wide dims in 16 bits, the others in 8), in blocks of 16 rows
// (ivf/sq8_blocks.h), each list padded to whole blocks, the lists one after the other
// in list order. Derived data: built from the float rows at the first int8 search after the lists
// changed (never saved), so it always codes exactly the stored rows.
struct ScanCodes {
    uint64_t version = 0;                   // IVFCore's list version it codes
    std::size_t wide = 0, block_bytes = 0;  // 16-bit dims; bytes per block of 16 rows (ivf/sq8_blocks.h)
    std::vector<float> lo, step;            // dim each
    std::vector<std::size_t> start;         // nlist + 1: block offsets of the lists (each list padded to whole blocks)
    std::vector<uint8_t, HugePageAllocator<uint8_t>> codes;  // start[nlist] blocks (the kernels read only within a block)
    const uint8_t* blocks(std::size_t l, std::size_t r0) const {  // row r0 (a multiple of 16) of list l
        return codes.data() + (start[l] + r0 / kSq8BlockRows) * block_bytes;
    }
};

class IVFCore {
public:
    IVFCore(std::size_t dim, std::size_t nlist, std::size_t coarse_dim, int metric);

    std::size_t dim() const { return dim_; }
    std::size_t nlist() const { return nlist_; }
    std::size_t coarse_dim() const { return coarse_dim_; }
    int metric() const { return metric_; }
    bool is_trained() const;
    std::size_t ntotal() const;
    // The id the next add() without ids starts from (one past the largest id ever added).
    int64_t next_id() const;
    // Raises the next default id to at least v (load: the saved value, so that ids removed
    // before the save are not given out again).
    void raise_next_id(int64_t v);

    // k-means on the coarse_dim prefix of x (n x dim rows).
    void train(const float* x, std::size_t n, const KMeansParams& params);
    // Installs centroids (nlist x coarse_dim) directly.
    void set_centroids(const float* c);
    // Adds n rows (n x dim); ids == nullptr gives sequential ids ntotal, ntotal+1, ...
    void add(const float* x, std::size_t n, const int64_t* ids);
    // add() in two steps (a progress bar between blocks; adanns/index.py): the lists of n rows
    // and, for cosine, the normalised rows in rows_out (n x dim); the index is not changed.
    // add_preassigned then stores all blocks in one step.
    void prepare(const float* x, std::size_t n, float* rows_out, int64_t* lists) const;
    // Appends rows to given lists without assignment (used by load). Validates list numbers.
    void add_preassigned(const float* x, std::size_t n, const int64_t* ids, const int64_t* lists);
    void reset();
    // Serves the lists from the index file at `path`: its vector section (at byte `offset`, the
    // lists one after the other, row-major, stride dim) is memory-mapped read-only; list l has
    // sizes[l] rows whose ids are ids[..] (copied). Needs a trained, empty index. Lists changed
    // later are copied into RAM first (copy-on-write per list).
    void map_lists(const std::string& path, std::size_t offset, const int64_t* sizes, const int64_t* ids);
    // Lists still served from a mapped file (0 for an index in RAM).
    std::size_t mapped_lists() const;
    // Removes every stored vector whose id is in ids[0..n). Returns the number removed.
    std::size_t remove_ids(const int64_t* ids, std::size_t n);
    // Replaces the vectors of the given ids (removes any stored rows with those ids, then
    // adds x), as one step: a concurrent search sees the index before or after, never between.
    std::size_t update(const float* x, std::size_t n, const int64_t* ids);

    // D, I: nq x k. Thread-safe against concurrent searches and adds.
    // stats (optional): per-stage thread time and work counters are added to it.
    // filter (optional): only rows whose id it allows are returned.
    void search(const float* xq, std::size_t nq, const SearchParams& p, float* D, int64_t* I,
                SearchStats* stats = nullptr, const RowFilter* filter = nullptr) const;

    // The nprobe lists each query would probe on the probe_dim prefix (nq x nprobe), best first.
    void probe(const float* xq, std::size_t nq, std::size_t nprobe, std::size_t probe_dim,
               int64_t* probes) const;

    // State export (copies), in list order.
    std::vector<float> centroids() const;
    std::vector<int64_t> list_sizes() const;
    // Consistent snapshot of the lists: per-list sizes, then ids and vectors in list order.
    void export_state(std::vector<int64_t>& sizes, std::vector<int64_t>& ids,
                      std::vector<float>& vectors) const;

private:
    void add_locked(const float* x, std::size_t n, const int64_t* ids, const int64_t* lists);
    // reserved: see remove_ids_from (an update's lists that keep their capacity)
    std::size_t remove_locked(const int64_t* ids, std::size_t n, const std::vector<std::size_t>* reserved = nullptr);
    // Normalises (cosine) into `buf` if needed and assigns lists; returns the rows to store.
    const float* prepare_rows(const float* x, std::size_t n, std::vector<float>& buf,
                              std::vector<int64_t>& assign) const;
    // Cosine: unit queries in buf (the returned pointer); otherwise xq itself.
    const float* prepare_queries(const float* xq, std::size_t nq, std::vector<float>& buf) const;
    void search_locked(const float* xq, std::size_t nq, const SearchParams& p, float* D, int64_t* I,
                       SearchStats* stats, const RowFilter* filter) const;
    void coarse_probe(const float* q, std::size_t nq, std::size_t nprobe, std::size_t probe_dim,
                      int64_t* probes) const;

    // The centroid prefixes of probe_dim pd < coarse_dim packed for the probe's GEMM, with their
    // squared norms (cosine: the prefixes normalised); kept for the last pd asked for, so that a
    // search of one query does not pack nlist x pd floats again. Call with mu_ held (shared).
    struct ProbePanels {
        std::size_t pd = 0;
        std::vector<float> packed, norms;
    };
    std::shared_ptr<const ProbePanels> probe_panels(std::size_t pd) const;

    // The int8 scan store of the current lists (built if they changed since it was last built);
    // call with mu_ held (shared is enough: builders are serialised by codes_mu_).
    std::shared_ptr<const ScanCodes> scan_codes() const;

    std::size_t dim_, nlist_, coarse_dim_;
    int metric_;
    uint64_t version_ = 0;  // bumped by every change of the lists (under the unique lock)
    mutable std::mutex codes_mu_;
    mutable std::shared_ptr<const ScanCodes> codes_;
    mutable std::mutex panels_mu_;
    mutable std::shared_ptr<const ProbePanels> panels_;  // (reset when the centroids change)
    bool trained_ = false;
    int64_t next_id_ = 0;
    std::vector<float> centroids_;       // nlist x coarse_dim
    std::vector<float> centroid_norms_;  // squared, for L2 probing
    std::vector<float> packed_centroids_;  // GEMM panels of centroids_ (pack_panels)
    InvertedLists lists_;
    mutable std::shared_mutex mu_;
};

}  // namespace adanns
