#include "ivf/ivfpq.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

#include "common/huge_pages.h"
#include "common/metric.h"
#include "common/norms.h"
#include "common/parallel.h"
#include "ivf/batch_driver.h"
#include "kernels/kernels.h"
#include "quant/kmeans.h"
#include "storage/list_walk.h"
#include "storage/remove.h"

namespace adanns {


namespace {

// Above this size the per-list L2 terms are not precomputed (LUTs are computed directly).
constexpr std::size_t kMaxL2TermBytes = std::size_t(256) << 20;

}  // namespace

PQCore::PQCore(std::size_t dim, std::size_t nlist, std::size_t coarse_dim, std::size_t pq_dim,
               std::size_t m, int metric, bool keep_full)
    : dim_(dim), nlist_(nlist), coarse_dim_(coarse_dim), pq_dim_(pq_dim), m_(m), dsub_(0), metric_(metric),
      keep_full_(keep_full) {
    if (dim == 0) throw std::invalid_argument("dim must be >= 1");
    if (nlist == 0 || nlist > (std::size_t(1) << 31)) throw std::invalid_argument("nlist must be in 1..2^31");
    if (coarse_dim == 0 || coarse_dim > dim) throw std::invalid_argument("coarse_dim must be in 1..dim");
    if (pq_dim == 0 || pq_dim > dim) throw std::invalid_argument("pq_dim must be in 1..dim");
    if (m == 0 || m > pq_dim || pq_dim % m != 0) throw std::invalid_argument("m must divide pq_dim");
    if (!valid_metric(metric)) throw std::invalid_argument("unknown metric");
    dsub_ = pq_dim / m;
    lists_ = CodeLists(nlist, m);
    full_ = RerankStore(dim);
}

bool PQCore::is_trained() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return trained_;
}
bool PQCore::has_rotation() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return !rotation_.empty();
}
std::size_t PQCore::ntotal() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return lists_.total();
}
bool PQCore::full_is_mapped() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return full_.mapped();
}
std::size_t PQCore::full_rows() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return full_.rows();
}

void PQCore::set_state(const float* centroids, const float* anchors, const float* rotation,
                       const float* codebooks) {
    const std::size_t p = pq_dim_;
    std::vector<float> cent, cnorm, cpacked;
    if (nlist_ > 1) {
        if (!centroids) throw std::invalid_argument("centroids are required when nlist > 1");
        cent.assign(centroids, centroids + nlist_ * coarse_dim_);
        cnorm = row_sqnorms(cent.data(), nlist_, coarse_dim_, coarse_dim_);
        cpacked.resize(packed_size(nlist_, coarse_dim_));
        pack_panels(cent.data(), nlist_, coarse_dim_, coarse_dim_, cpacked.data());
    }
    std::vector<float> anc(anchors, anchors + nlist_ * p);
    std::vector<float> rot, rpacked;
    std::vector<float> anc_rot = anc;
    if (rotation) {
        rot.assign(rotation, rotation + p * p);
        rpacked.resize(packed_size(p, p));
        pack_panels(rot.data(), p, p, p, rpacked.data());
        kernels().gemm(anc.data(), nlist_, p, rpacked.data(), p, p, nullptr, 1.f, anc_rot.data(), p);
    }
    std::vector<float> cb(codebooks, codebooks + m_ * kPQKsub * dsub_);
    std::vector<float> cbp, cbn;
    pqdetail::pack_codebooks(cb.data(), m_, dsub_, cbp, cbn);
    std::vector<float> terms;
    if (metric_ == kMetricL2 && nlist_ * m_ * kPQKsub * sizeof(float) <= kMaxL2TermBytes) {
        // 2 <a'_s, c> + |c|^2 for every list, sub-space and codeword.
        terms.resize(nlist_ * m_ * kPQKsub);
        parallel_for_chunks(nlist_, 16, [&](std::size_t b, std::size_t e) {
            for (std::size_t l = b; l < e; ++l)
                for (std::size_t s = 0; s < m_; ++s) {
                    const float* a = anc_rot.data() + l * p + s * dsub_;
                    float* o = terms.data() + (l * m_ + s) * kPQKsub;
                    for (std::size_t c = 0; c < kPQKsub; ++c) {
                        const float* w = cb.data() + (s * kPQKsub + c) * dsub_;
                        float dot = 0.f;
                        for (std::size_t u = 0; u < dsub_; ++u) dot += a[u] * w[u];
                        o[c] = 2.f * dot + cbn[s * kPQKsub + c];
                    }
                }
        });
    }
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (lists_.total() != 0) throw std::logic_error("cannot change the training of an index that holds vectors");
    centroids_ = std::move(cent);
    centroid_norms_ = std::move(cnorm);
    packed_centroids_ = std::move(cpacked);
    anchors_ = std::move(anc);
    anchors_rot_ = std::move(anc_rot);
    rotation_ = std::move(rot);
    packed_rotation_ = std::move(rpacked);
    codebooks_ = std::move(cb);
    packed_codebooks_ = std::move(cbp);
    cb_norms_ = std::move(cbn);
    l2_terms_ = std::move(terms);
    trained_ = true;
}

void PQCore::targets(const float* x, std::size_t n, float* out) const {
    const std::size_t p = pq_dim_;
    const bool renorm = metric_ == kMetricCosine && p < dim_;
    parallel_for_chunks(n, 1024, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) {
            std::memcpy(out + i * p, x + i * dim_, p * sizeof(float));
            if (renorm) normalize(out + i * p, p, out + i * p);
        }
    });
}

void PQCore::assign(const float* x, std::size_t n, int64_t* lists) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained first");
    if (nlist_ == 1) {
        std::fill(lists, lists + n, int64_t(0));
        return;
    }
    assign_nearest(x, n, dim_, centroids_.data(), nlist_, coarse_dim_, metric_ != kMetricL2, lists);
}

void PQCore::encode(const float* x, std::size_t n, const int64_t* lists, uint8_t* codes) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained first");
    const std::size_t p = pq_dim_;
    check_lists(lists, n);
    const bool rot = !rotation_.empty();
    parallel_for_chunks(n, 256, [&](std::size_t b, std::size_t e) {
        const std::size_t c = e - b;
        std::vector<float> res(c * p), rr(rot ? c * p : 0);
        std::vector<int64_t> tmp(c);
        targets(x + b * dim_, c, res.data());
        for (std::size_t i = 0; i < c; ++i) {
            const float* a = anchors_.data() + static_cast<std::size_t>(lists[b + i]) * p;
            float* r = res.data() + i * p;
            for (std::size_t t = 0; t < p; ++t) r[t] -= a[t];
        }
        const float* src = res.data();
        if (rot) {
            kernels().gemm(res.data(), c, p, packed_rotation_.data(), p, p, nullptr, 1.f, rr.data(), p);
            src = rr.data();
        }
        pqdetail::encode_rows(src, c, p, dsub_, m_, packed_codebooks_.data(), cb_norms_.data(), codes + b * m_,
                              tmp.data());
    });
}

void PQCore::decode(const uint8_t* codes, std::size_t n, const int64_t* lists, float* out) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained first");
    const std::size_t p = pq_dim_;
    check_lists(lists, n);
    std::vector<float> rec(p);
    for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t s = 0; s < m_; ++s)
            std::memcpy(rec.data() + s * dsub_, codebooks_.data() + (s * kPQKsub + codes[i * m_ + s]) * dsub_,
                        dsub_ * sizeof(float));
        const float* a = anchors_.data() + static_cast<std::size_t>(lists[i]) * p;
        float* o = out + i * p;
        if (rotation_.empty()) {
            for (std::size_t t = 0; t < p; ++t) o[t] = a[t] + rec[t];
        } else {  // R^T rec
            for (std::size_t t = 0; t < p; ++t) o[t] = a[t];
            for (std::size_t j = 0; j < p; ++j) {
                const float v = rec[j];
                const float* row = rotation_.data() + j * p;
                for (std::size_t t = 0; t < p; ++t) o[t] += row[t] * v;
            }
        }
    }
}

void PQCore::encode_rows(const float* x, std::size_t n, std::vector<int64_t>& lists,
                         std::vector<uint8_t>& codes) const {
    lists.resize(n);
    assign(x, n, lists.data());
    codes.resize(n * m_);
    encode(x, n, lists.data(), codes.data());
}

void PQCore::add(const float* x, std::size_t n, const int64_t* ids, const int64_t* seq) {
    if (n == 0) return;
    std::vector<int64_t> lists;
    std::vector<uint8_t> codes;
    encode_rows(x, n, lists, codes);
    check_rows(ids, seq, lists.data(), n);
    std::unique_lock<std::shared_mutex> lock(mu_);
    append_locked(codes.data(), keep_full_ ? x : nullptr, n, ids, seq, lists.data());
}

std::size_t PQCore::update(const float* x, std::size_t n, const int64_t* ids, const int64_t* seq) {
    if (n == 0) return 0;
    std::vector<int64_t> lists;
    std::vector<uint8_t> codes;
    encode_rows(x, n, lists, codes);
    check_rows(ids, seq, lists.data(), n);
    std::unique_lock<std::shared_mutex> lock(mu_);
    // Everything that allocates happens before the first row is removed, so a failed allocation
    // leaves the index unchanged (append_locked reserves again: a no-op by then).
    std::vector<std::size_t> extra(nlist_, 0);
    for (std::size_t i = 0; i < n; ++i) ++extra[static_cast<std::size_t>(lists[i])];
    for (std::size_t l = 0; l < nlist_; ++l)
        if (extra[l]) lists_.reserve(l, extra[l]);
    if (keep_full_) full_.reserve(n);
    const std::size_t removed = remove_locked(ids, n, &extra);
    append_locked(codes.data(), keep_full_ ? x : nullptr, n, ids, seq, lists.data());
    return removed;
}

std::size_t PQCore::remove_ids(const int64_t* ids, std::size_t n) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    return remove_locked(ids, n);
}

std::size_t PQCore::remove_locked(const int64_t* ids, std::size_t n, const std::vector<std::size_t>* reserved) {
    // The removed entries' full vectors stay in the rerank store, unreferenced (export_state
    // leaves them out), until nothing is left: then the store is released too (row numbers
    // start again at 0; adanns/pq_index.py resets its count with it), but not in an update, whose
    // new rows continue the store's row numbers.
    const std::size_t removed = remove_ids_from(lists_, ids, n, reserved);
    if (lists_.total() == 0 && !reserved) {
        full_.clear();
        release_free_memory();  // (after the store too: remove_ids_from released the lists' memory)
    }
    return removed;
}

void PQCore::check_lists(const int64_t* lists, std::size_t n) const {
    for (std::size_t i = 0; i < n; ++i)
        if (lists[i] < 0 || static_cast<std::size_t>(lists[i]) >= nlist_)
            throw std::invalid_argument("list number out of range");
}

void PQCore::check_rows(const int64_t* ids, const int64_t* seq, const int64_t* lists, std::size_t n) const {
    check_lists(lists, n);
    for (std::size_t i = 0; i < n; ++i) {
        if (seq[i] < 0 || seq[i] >= int64_t(0xffffffffll))
            throw std::invalid_argument("row numbers must be in 0..2^32-2");
        if (ids[i] < 0) throw std::invalid_argument("ids must be >= 0");
    }
}

void PQCore::add_codes(const uint8_t* codes, std::size_t n, const int64_t* ids, const int64_t* seq,
                       const int64_t* lists) {
    check_rows(ids, seq, lists, n);
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained first");
    append_locked(codes, nullptr, n, ids, seq, lists);
}

void PQCore::append_locked(const uint8_t* codes, const float* x, std::size_t n, const int64_t* ids,
                           const int64_t* seq, const int64_t* lists) {
    if (!trained_) throw std::logic_error("the index must be trained first");
    if (x) {
        const std::size_t base = full_.rows();
        for (std::size_t i = 0; i < n; ++i)
            if (static_cast<std::size_t>(seq[i]) != base + i)
                throw std::invalid_argument("row numbers must continue the full-vector store");
    }
    // Reserve everything first, so that a failed allocation leaves the index unchanged.
    std::vector<std::size_t> extra(nlist_, 0);
    for (std::size_t i = 0; i < n; ++i) ++extra[static_cast<std::size_t>(lists[i])];
    for (std::size_t l = 0; l < nlist_; ++l)
        if (extra[l]) lists_.reserve(l, extra[l]);
    if (x) full_.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        lists_.append(static_cast<std::size_t>(lists[i]), codes + i * m_, ids[i], static_cast<uint32_t>(seq[i]));
    if (x) full_.append(x, n);
}

void PQCore::set_full(const float* x, std::size_t n) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (!keep_full_) throw std::logic_error("this index does not keep full vectors");
    full_.assign(x, n);
}

void PQCore::map_full(const std::string& path, std::size_t offset, std::size_t n) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (!keep_full_) throw std::logic_error("this index does not keep full vectors");
    full_.map_file(path, offset, n);
}

void PQCore::spill_full(const std::string& dir) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (!keep_full_) throw std::logic_error("this index does not keep full vectors");
    full_.spill_to(dir);
}

void PQCore::reset() {
    std::unique_lock<std::shared_mutex> lock(mu_);
    lists_.clear();
    full_.clear();
    release_free_memory();
}

std::vector<float> PQCore::copy_locked(const std::vector<float>& v) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return v;
}
std::vector<float> PQCore::centroids() const { return copy_locked(centroids_); }
std::vector<float> PQCore::anchors() const { return copy_locked(anchors_); }
std::vector<float> PQCore::rotation() const { return copy_locked(rotation_); }
std::vector<float> PQCore::codebooks() const { return copy_locked(codebooks_); }
std::vector<int64_t> PQCore::list_sizes() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return list_sizes_of(lists_);
}

void PQCore::export_state(std::vector<int64_t>& sizes, std::vector<int64_t>& ids, std::vector<int64_t>& rows,
                          std::vector<uint8_t>& codes, std::vector<float>* full) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    const std::size_t ntotal = lists_.total();
    sizes = list_sizes_of(lists_);
    ids.resize(ntotal);
    rows.resize(ntotal);
    codes.resize(ntotal * m_);
    for_each_list(lists_, [&](std::size_t l, std::size_t n, std::size_t first) {
        for (std::size_t r = 0, o = first; r < n; ++r, ++o) {
            ids[o] = lists_.ids(l)[r];
            rows[o] = lists_.seq(l)[r];
            lists_.codes_of(l, r, codes.data() + o * m_);
        }
    });
    // Renumber the seq numbers to their ranks 0..ntotal-1 (removals leave gaps).
    std::vector<std::size_t> order(ntotal);
    for (std::size_t i = 0; i < ntotal; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return rows[a] < rows[b]; });
    std::vector<int64_t> seq_sorted(ntotal);
    for (std::size_t i = 0; i < ntotal; ++i) seq_sorted[i] = rows[order[i]];
    if (full && keep_full_) {
        full->resize(ntotal * dim_);
        for (std::size_t i = 0; i < ntotal; ++i) {
            const std::size_t sq = static_cast<std::size_t>(seq_sorted[i]);
            if (sq >= full_.rows()) throw std::logic_error("a list entry has no full vector");
            std::memcpy(full->data() + i * dim_, full_.row(sq), dim_ * sizeof(float));
        }
    }
    for (std::size_t i = 0; i < ntotal; ++i) rows[order[i]] = static_cast<int64_t>(i);
}

void PQCore::coarse_probe(const float* q, std::size_t nq, std::size_t nprobe, int64_t* probes) const {
    if (nlist_ == 1) {
        std::fill(probes, probes + nq * nprobe, int64_t(0));
        return;
    }
    top_nearest(q, nq, dim_, packed_centroids_.data(), centroid_norms_.data(), nlist_, coarse_dim_,
                metric_ != kMetricL2, nprobe, probes);
}

namespace {

// Scanner of PQ codes (IVF-PQ, PQ): per chunk, the queries' PQ targets, rotated targets and
// LUT parts; per list, each member's constant; per tile, a LUT per member and one ADC pass.
struct PQScanner {
    static constexpr bool kFilterSpans = false;  // per-call table set-up: scan whole tiles
    static constexpr std::size_t kMembersPerCall = 4;
    static constexpr std::size_t kTileRows = 4096;  // a multiple of kCodeGroup
    const PQCore& core;
    const CodeLists& lists;
    const float* xq;
    std::size_t dim, P, M, dsub, LS;
    bool l2, use_terms;
    const float* anchors;      // nlist x P
    const float* anchors_rot;  // nlist x P
    const float* codebooks;    // M x 256 x dsub
    const float* l2_terms;     // nlist x M x 256, or null
    const float* packed_rotation;  // null without OPQ
    const float* packed_codebooks;
    const Kernels& kern;

    struct Chunk {
        std::size_t qb;
        std::vector<float> qt, qr, qlut, bias, lut, out, diff;
    };
    Chunk begin_chunk(std::size_t qb, std::size_t cq) const {
        Chunk c;
        c.qb = qb;
        // Query targets (prefix, renormalised for cosine), rotated, and their LUT parts:
        // IP: <qr_s, c>; L2: -2 <qr_s, c>.
        c.qt.resize(cq * P);
        c.qlut.resize(cq * LS);
        core.targets(xq + qb * dim, cq, c.qt.data());
        if (packed_rotation) {
            c.qr.resize(cq * P);
            kern.gemm(c.qt.data(), cq, P, packed_rotation, P, P, nullptr, 1.f, c.qr.data(), P);
        } else {
            c.qr = c.qt;
        }
        const std::size_t cbps = packed_size(kPQKsub, dsub);
        for (std::size_t s = 0; s < M; ++s)
            kern.gemm(c.qr.data() + s * dsub, cq, P, packed_codebooks + s * cbps, kPQKsub, dsub, nullptr,
                      l2 ? -2.f : 1.f, c.qlut.data() + s * kPQKsub, LS);
        c.bias.resize(cq);
        c.lut.resize(LS);
        c.out.resize(kTileRows);
        c.diff.resize(P);
        return c;
    }
    std::size_t tile_rows() const { return kTileRows; }
    std::size_t list_size(std::size_t l) const { return lists.list_size(l); }
    const int64_t* ids(std::size_t l) const { return lists.ids(l); }
    // Per-query constant of this list: L2 |qt - a|^2, IP <qt, a>.
    void begin_list(Chunk& c, std::size_t l, const uint32_t* members, std::size_t nm) const {
        const float* a = anchors + l * P;
        for (std::size_t i = 0; i < nm; ++i) {
            const float* q = c.qt.data() + members[i] * P;
            float s = 0.f;
            if (l2) {
                for (std::size_t t = 0; t < P; ++t) {
                    const float d = q[t] - a[t];
                    s += d * d;
                }
            } else {
                for (std::size_t t = 0; t < P; ++t) s += q[t] * a[t];
            }
            c.bias[members[i]] = s;
        }
    }
    void scan_tile(Chunk& c, std::size_t l, std::size_t r0, std::size_t t, const uint32_t* members,
                   std::size_t nm, float* dist) const {
        const std::size_t ng = (t + kCodeGroup - 1) / kCodeGroup;
        const uint8_t* codes = lists.groups(l, r0);
        for (std::size_t i = 0; i < nm; ++i) {
            const std::size_t j = members[i];
            const float* tab = c.qlut.data() + j * LS;
            float b = c.bias[j];
            if (l2) {
                if (use_terms) {
                    kern.add(l2_terms + l * LS, tab, LS, c.lut.data());
                } else {  // direct: |qr_s - a'_s - c|^2, constant 0
                    const float* ar = anchors_rot + l * P;
                    const float* qrj = c.qr.data() + j * P;
                    for (std::size_t u = 0; u < P; ++u) c.diff[u] = qrj[u] - ar[u];
                    for (std::size_t s = 0; s < M; ++s)
                        for (std::size_t cc = 0; cc < kPQKsub; ++cc) {
                            const float* w = codebooks + (s * kPQKsub + cc) * dsub;
                            float acc = 0.f;
                            for (std::size_t u = 0; u < dsub; ++u) {
                                const float d = c.diff[s * dsub + u] - w[u];
                                acc += d * d;
                            }
                            c.lut[s * kPQKsub + cc] = acc;
                        }
                    b = 0.f;
                }
                tab = c.lut.data();
            }
            kern.adc(tab, codes, ng, M, c.out.data());
            float* d = dist + i * t;
            if (l2) {
                for (std::size_t r = 0; r < t; ++r) d[r] = b + c.out[r];
            } else {
                for (std::size_t r = 0; r < t; ++r) d[r] = -(b + c.out[r]);
            }
        }
    }
};

// Row source of the PQ rerank: the rerank store row of each list entry.
struct PQRows {
    const CodeLists& lists;
    const RerankStore& store;
    const float* row(std::size_t l, std::size_t r) const { return store.row(lists.seq(l)[r]); }
};

}  // namespace

void PQCore::search(const float* xq, std::size_t nq, const PQSearchParams& p, float* D, int64_t* I,
                    SearchStats* stats, const RowFilter* filter) const {
    if (p.k == 0) throw std::invalid_argument("k must be >= 1");
    if (p.nprobe == 0 || p.nprobe > nlist_) throw std::invalid_argument("nprobe must be in 1..nlist");
    if (p.rerank_k > 0 && !keep_full_) throw std::invalid_argument("rerank needs the full vectors (keep_full)");
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained before search");
    if (nq == 0) return;

    const bool l2 = metric_ == kMetricL2;
    const PQRows rows{lists_, full_};
    const std::size_t qblock = probe_block_size(p.nprobe);  // bounds the probe table
    std::vector<int64_t> probes(std::min(nq, qblock) * p.nprobe);
    for (std::size_t qb = 0; qb < nq; qb += qblock) {
        const std::size_t cq = std::min(qblock, nq - qb);
        const float* q = xq + qb * dim_;
        const auto t0 = Clock::now();
        coarse_probe(q, cq, p.nprobe, probes.data());
        if (stats) stats->coarse_s += seconds(t0, Clock::now()) * std::min<std::size_t>(max_threads(), cq);
        const PQScanner sc{*this, lists_, q, dim_, pq_dim_, m_, dsub_, m_ * kPQKsub, l2, l2 && !l2_terms_.empty(),
                           anchors_.data(), anchors_rot_.data(), codebooks_.data(),
                           l2_terms_.empty() ? nullptr : l2_terms_.data(),
                           rotation_.empty() ? nullptr : packed_rotation_.data(), packed_codebooks_.data(), kernels()};
        // Rerank exact on all dims (cosine rows are stored normalised); no prefix rescaling.
        const BatchSpec s{cq, nlist_, p.nprobe, p.k, p.rerank_k, dim_, dim_, 0, metric_, 256, 16, filter};
        batch_search(sc, &rows, s, probes.data(), q, D + qb * p.k, I + qb * p.k, stats);
    }
}

}  // namespace adanns
