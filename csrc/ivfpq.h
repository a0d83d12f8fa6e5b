// AdANNS-(O)PQ and AdANNS-IVF(O)PQ core: coarse quantiser on the first coarse_dim dims,
// product quantiser (optionally preceded by a learned rotation) on the first pq_dim dims,
// ADC scan of the probed lists, exact rerank with full vectors supplied by the caller
// (RAM or memory-mapped). nlist == 1 is the exhaustive PQ index (no coarse stage).
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

#include "pq.h"

namespace adanns {

// Per-sub-space k-means (256 centroids): returns m x 256 x (d / m) codebooks. x is n x d.
std::vector<float> pq_train(const float* x, std::size_t n, std::size_t d, std::size_t m, int niter,
                            uint64_t seed, std::size_t max_points_per_centroid);
// Nearest codeword per sub-space: codes n x m (row-major). x rows of stride ldx >= d.
void pq_encode(const float* x, std::size_t n, std::size_t ldx, std::size_t d, std::size_t m,
               const float* codebooks, uint8_t* codes);
// Reconstruction: out n x d.
void pq_decode(const uint8_t* codes, std::size_t n, std::size_t d, std::size_t m,
               const float* codebooks, float* out);

struct PQSearchParams {
    std::size_t k = 10;
    std::size_t nprobe = 1;
    std::size_t rerank_k = 0;
    // Full vectors for the rerank (row = the seq number given at add time), in two
    // segments: rows [0, n0) at full0, rows [n0, n0 + n1) at full1. Rows whose seq is
    // beyond n0 + n1 are skipped when rerank_k > 0 (added after the caller's snapshot).
    const float* full0 = nullptr;
    std::size_t n0 = 0;
    const float* full1 = nullptr;
    std::size_t n1 = 0;
};

class PQCore {
public:
    PQCore(std::size_t dim, std::size_t nlist, std::size_t coarse_dim, std::size_t pq_dim,
           std::size_t m, int metric);

    std::size_t dim() const { return dim_; }
    std::size_t nlist() const { return nlist_; }
    std::size_t coarse_dim() const { return coarse_dim_; }
    std::size_t pq_dim() const { return pq_dim_; }
    std::size_t m() const { return m_; }
    int metric() const { return metric_; }
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

    // Adds n rows (n x dim, normalised for cosine) with ids and seq numbers.
    void add(const float* x, std::size_t n, const int64_t* ids, const int64_t* seq);
    // Appends codes (n x m row-major) to given lists (used by load). Validates list numbers.
    void add_codes(const uint8_t* codes, std::size_t n, const int64_t* ids, const int64_t* seq,
                   const int64_t* lists);
    void reset();

    // Queries normalised for cosine. D, I: nq x k.
    void search(const float* xq, std::size_t nq, const PQSearchParams& p, float* D, int64_t* I) const;

    std::vector<float> centroids() const;
    std::vector<float> anchors() const;
    std::vector<float> rotation() const;
    std::vector<float> codebooks() const;
    std::vector<int64_t> list_sizes() const;
    // Consistent snapshot in list order: sizes, ids, seq, codes (ntotal x m row-major).
    void export_state(std::vector<int64_t>& sizes, std::vector<int64_t>& ids,
                      std::vector<int64_t>& seq, std::vector<uint8_t>& codes) const;

private:
    struct List {
        std::vector<uint8_t> codes;  // blocks of kPQBlock rows, sub-space major inside a block
        std::vector<int64_t> ids;
        std::vector<uint32_t> seq;
    };
    void append_locked(const uint8_t* codes, std::size_t n, const int64_t* ids, const int64_t* seq,
                       const int64_t* lists);
    void coarse_probe(const float* q, std::size_t nq, std::size_t nprobe, int64_t* probes) const;
    void query_targets(const float* xq, std::size_t nq, float* qt, float* qr) const;

    std::size_t dim_, nlist_, coarse_dim_, pq_dim_, m_, dsub_;
    int metric_;
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
    std::vector<List> lists_;
    std::size_t ntotal_ = 0;
    mutable std::shared_mutex mu_;
};

}  // namespace adanns
