// AdANNS-(O)PQ and AdANNS-IVF(O)PQ core: coarse quantiser on the first coarse_dim dims,
// product quantiser (optionally preceded by a learned rotation) on the first pq_dim dims,
// ADC scan of the probed lists (ivf/batch_driver.h), exact rerank with the full vectors of the
// core's rerank store (RAM or memory-mapped). nlist == 1 is the exhaustive PQ index (no coarse stage).
//
// Vectors (cosine: already normalised by the caller at full dimension) are encoded as
//   target  t = x[:pq_dim]            (cosine: renormalised, so that the scan estimates
//                                      the cosine of the pq_dim prefixes)
//   residual r = t - anchor[list]     (anchor = mean of the list's training targets)
//   code      = PQ(R r)               (R = OPQ rotation, identity without OPQ)
#pragma once
#include <cstddef>
#include <cstdint>
#include <shared_mutex>
#include <vector>

#include <string>

#include "common/row_filter.h"
#include "common/stats.h"
#include "quant/pq.h"
#include "storage/code_lists.h"
#include "storage/rerank_store.h"

namespace adanns {

struct PQSearchParams {
    std::size_t k = 10;
    std::size_t nprobe = 1;
    std::size_t rerank_k = 0;  // > 0 needs keep_full
};

class PQCore {
public:
    // keep_full: the core keeps every added vector in its rerank store (needed for rerank_k > 0).
    PQCore(std::size_t dim, std::size_t nlist, std::size_t coarse_dim, std::size_t pq_dim,
           std::size_t m, int metric, bool keep_full = false);

    std::size_t dim() const { return dim_; }
    std::size_t nlist() const { return nlist_; }
    std::size_t coarse_dim() const { return coarse_dim_; }
    std::size_t pq_dim() const { return pq_dim_; }
    std::size_t m() const { return m_; }
    int metric() const { return metric_; }
    bool keep_full() const { return keep_full_; }
    bool full_is_mapped() const;
    bool has_rotation() const;
    bool is_trained() const;
    std::size_t ntotal() const;

    // Installs the trained state. centroids: nlist x coarse_dim (ignored when nlist == 1),
    // anchors: nlist x pq_dim, rotation: pq_dim x pq_dim or null, codebooks: m x 256 x dsub.
    void set_state(const float* centroids, const float* anchors, const float* rotation,
                   const float* codebooks);

    // PQ targets of n rows (n x dim): n x pq_dim.
    void targets(const float* x, std::size_t n, float* out) const;
    // Coarse list of n rows (n x dim).
    void assign(const float* x, std::size_t n, int64_t* lists) const;
    // Codes (n x m, row-major) of n rows already assigned to lists.
    void encode(const float* x, std::size_t n, const int64_t* lists, uint8_t* codes) const;
    // Reconstructed targets (n x pq_dim) of codes in the given lists.
    void decode(const uint8_t* codes, std::size_t n, const int64_t* lists, float* out) const;

    // Adds n rows (n x dim, normalised for cosine) with ids and seq numbers (the rerank-store
    // rows; with keep_full they must continue the store: seq[i] == full_rows() + i).
    void add(const float* x, std::size_t n, const int64_t* ids, const int64_t* seq);
    // Appends codes (n x m row-major) to given lists (used by load). Validates list numbers.
    void add_codes(const uint8_t* codes, std::size_t n, const int64_t* ids, const int64_t* seq,
                   const int64_t* lists);
    // Installs the rerank store after add_codes (load): n rows in RAM, or mapped from a file.
    void set_full(const float* x, std::size_t n);
    void map_full(const std::string& path, std::size_t offset, std::size_t n);
    std::size_t full_rows() const;
    // keep_full="mmap": rows added from now on go to an unlinked temporary file in dir.
    void spill_full(const std::string& dir);
    // Removes every stored vector whose id is in ids[0..n). Returns the number removed.
    std::size_t remove_ids(const int64_t* ids, std::size_t n);
    // Replaces the vectors of the given ids (removes rows with those ids, then adds x), as one
    // step: a concurrent search sees the index before or after, never between.
    std::size_t update(const float* x, std::size_t n, const int64_t* ids, const int64_t* seq);
    void reset();

    // Queries normalised for cosine. D, I: nq x k.
    void search(const float* xq, std::size_t nq, const PQSearchParams& p, float* D, int64_t* I,
                SearchStats* stats = nullptr, const RowFilter* filter = nullptr) const;

    std::vector<float> centroids() const;
    std::vector<float> anchors() const;
    std::vector<float> rotation() const;
    std::vector<float> codebooks() const;
    std::vector<int64_t> list_sizes() const;
    // Consistent snapshot in list order: sizes, ids, rows, codes (ntotal x m row-major) and, with
    // keep_full and full != null, the full vectors (ntotal x dim): rows are the entries' seq
    // numbers renumbered to 0..ntotal-1 (in seq order), full[rows[i]] is entry i's vector.
    void export_state(std::vector<int64_t>& sizes, std::vector<int64_t>& ids, std::vector<int64_t>& rows,
                      std::vector<uint8_t>& codes, std::vector<float>* full) const;

private:
    std::vector<float> copy_locked(const std::vector<float>& v) const;
    void check_lists(const int64_t* lists, std::size_t n) const;
    void check_rows(const int64_t* ids, const int64_t* seq, const int64_t* lists, std::size_t n) const;
    // Reserves (may throw) then appends (cannot fail): codes, and full rows when x != null.
    void append_locked(const uint8_t* codes, const float* x, std::size_t n, const int64_t* ids,
                       const int64_t* seq, const int64_t* lists);
    // reserved: non-null for an update's removal, which keeps the reserved capacity of its lists
    // and the rerank store (the update's rows continue its row numbers); see remove_ids_from.
    std::size_t remove_locked(const int64_t* ids, std::size_t n, const std::vector<std::size_t>* reserved = nullptr);
    void encode_rows(const float* x, std::size_t n, std::vector<int64_t>& lists, std::vector<uint8_t>& codes) const;
    void coarse_probe(const float* q, std::size_t nq, std::size_t nprobe, int64_t* probes) const;
    void query_targets(const float* xq, std::size_t nq, float* qt, float* qr) const;

    std::size_t dim_, nlist_, coarse_dim_, pq_dim_, m_, dsub_;
    int metric_;
    bool keep_full_;
    bool trained_ = false;
    std::vector<float> centroids_, centroid_norms_, packed_centroids_;
    std::vector<float> anchors_;          // nlist x pq_dim (unrotated)
    std::vector<float> anchors_rot_;      // nlist x pq_dim (R anchor)
    std::vector<float> rotation_;         // pq_dim x pq_dim, empty without OPQ
    std::vector<float> packed_rotation_;  // GEMM panels of the rotation rows
    std::vector<float> codebooks_;        // m x 256 x dsub
    std::vector<float> packed_codebooks_; // per sub-space GEMM panels (256 x dsub)
    std::vector<float> cb_norms_;         // m x 256 squared codeword norms
    std::vector<float> l2_terms_;         // nlist x m x 256: 2 <a'_s, c> + |c|^2 (L2), or empty
    CodeLists lists_;
    RerankStore full_;  // rows by seq (keep_full)
    mutable std::shared_mutex mu_;
};

}  // namespace adanns
