#include "ivfpq.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

#include "distances.h"
#include "list_groups.h"
#include "kmeans.h"
#include "parallel.h"
#include "topk.h"

namespace adanns {

namespace pqdetail {
void pack_codebooks(const float* cb, std::size_t m, std::size_t dsub, std::vector<float>& packed,
                    std::vector<float>& norms);
void encode_rows(const float* x, std::size_t n, std::size_t ldx, std::size_t dsub, std::size_t m,
                 const float* packed, const float* norms, uint8_t* codes, int64_t* tmp);
}  // namespace pqdetail

namespace {

enum : int { kL2 = 0, kIP = 1, kCos = 2 };

// Above this size the per-list L2 terms are not precomputed (LUTs are computed directly).
constexpr std::size_t kMaxL2TermBytes = std::size_t(256) << 20;
constexpr std::size_t kTileRows = 4096;  // rows of one list scanned by all queries of a chunk

inline int64_t make_label(std::size_t list, std::size_t row) {
    return static_cast<int64_t>((static_cast<uint64_t>(list) << 32) | static_cast<uint64_t>(row));
}
inline std::size_t label_list(int64_t lab) { return static_cast<std::size_t>(static_cast<uint64_t>(lab) >> 32); }
inline std::size_t label_row(int64_t lab) { return static_cast<std::size_t>(static_cast<uint64_t>(lab) & 0xffffffffull); }

void normalize_inplace(float* v, std::size_t d) {
    double s = 0;
    for (std::size_t t = 0; t < d; ++t) s += double(v[t]) * v[t];
    const float inv = s > 0 ? float(1.0 / std::sqrt(s)) : 0.f;
    for (std::size_t t = 0; t < d; ++t) v[t] *= inv;
}

}  // namespace

PQCore::PQCore(std::size_t dim, std::size_t nlist, std::size_t coarse_dim, std::size_t pq_dim,
               std::size_t m, int metric)
    : dim_(dim), nlist_(nlist), coarse_dim_(coarse_dim), pq_dim_(pq_dim), m_(m), dsub_(0), metric_(metric) {
    if (dim == 0) throw std::invalid_argument("dim must be >= 1");
    if (nlist == 0 || nlist > (std::size_t(1) << 31)) throw std::invalid_argument("nlist must be in 1..2^31");
    if (coarse_dim == 0 || coarse_dim > dim) throw std::invalid_argument("coarse_dim must be in 1..dim");
    if (pq_dim == 0 || pq_dim > dim) throw std::invalid_argument("pq_dim must be in 1..dim");
    if (m == 0 || m > pq_dim || pq_dim % m != 0) throw std::invalid_argument("m must divide pq_dim");
    if (metric < kL2 || metric > kCos) throw std::invalid_argument("unknown metric");
    dsub_ = pq_dim / m;
    lists_.resize(nlist);
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
    return ntotal_;
}

void PQCore::set_state(const float* centroids, const float* anchors, const float* rotation,
                       const float* codebooks) {
    const std::size_t p = pq_dim_;
    std::vector<float> cent, cnorm, cpacked;
    if (nlist_ > 1) {
        if (!centroids) throw std::invalid_argument("centroids are required when nlist > 1");
        cent.assign(centroids, centroids + nlist_ * coarse_dim_);
        cnorm.resize(nlist_);
        for (std::size_t j = 0; j < nlist_; ++j) {
            float s = 0.f;
            for (std::size_t t = 0; t < coarse_dim_; ++t) s += cent[j * coarse_dim_ + t] * cent[j * coarse_dim_ + t];
            cnorm[j] = s;
        }
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
    if (metric_ == kL2 && nlist_ * m_ * kPQKsub * sizeof(float) <= kMaxL2TermBytes) {
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
    if (ntotal_ != 0) throw std::logic_error("cannot change the training of an index that holds vectors");
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
    const bool renorm = metric_ == kCos && p < dim_;
    parallel_for_chunks(n, 1024, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) {
            std::memcpy(out + i * p, x + i * dim_, p * sizeof(float));
            if (renorm) normalize_inplace(out + i * p, p);
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
    assign_nearest(x, n, dim_, centroids_.data(), nlist_, coarse_dim_, metric_ != kL2, lists);
}

void PQCore::encode(const float* x, std::size_t n, const int64_t* lists, uint8_t* codes) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained first");
    const std::size_t p = pq_dim_;
    for (std::size_t i = 0; i < n; ++i)
        if (lists[i] < 0 || static_cast<std::size_t>(lists[i]) >= nlist_)
            throw std::invalid_argument("list number out of range");
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
    for (std::size_t i = 0; i < n; ++i)
        if (lists[i] < 0 || static_cast<std::size_t>(lists[i]) >= nlist_)
            throw std::invalid_argument("list number out of range");
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

void PQCore::add(const float* x, std::size_t n, const int64_t* ids, const int64_t* seq) {
    if (n == 0) return;
    std::vector<int64_t> lists(n);
    assign(x, n, lists.data());
    std::vector<uint8_t> codes(n * m_);
    encode(x, n, lists.data(), codes.data());
    add_codes(codes.data(), n, ids, seq, lists.data());
}

void PQCore::add_codes(const uint8_t* codes, std::size_t n, const int64_t* ids, const int64_t* seq,
                       const int64_t* lists) {
    for (std::size_t i = 0; i < n; ++i) {
        if (lists[i] < 0 || static_cast<std::size_t>(lists[i]) >= nlist_)
            throw std::invalid_argument("list number out of range");
        if (seq[i] < 0 || seq[i] >= int64_t(0xffffffffll))
            throw std::invalid_argument("row numbers must be in 0..2^32-2");
        if (ids[i] < 0) throw std::invalid_argument("ids must be >= 0");
    }
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained first");
    append_locked(codes, n, ids, seq, lists);
}

void PQCore::append_locked(const uint8_t* codes, std::size_t n, const int64_t* ids, const int64_t* seq,
                           const int64_t* lists) {
    // Reserve everything first, so that a failed allocation leaves the index unchanged.
    std::vector<std::size_t> extra(nlist_, 0);
    for (std::size_t i = 0; i < n; ++i) ++extra[static_cast<std::size_t>(lists[i])];
    for (std::size_t l = 0; l < nlist_; ++l) {
        if (!extra[l]) continue;
        List& L = lists_[l];
        const std::size_t rows = L.ids.size() + extra[l];
        if (rows >= (std::size_t(1) << 32)) throw std::length_error("a list would exceed 2^32 rows");
        const std::size_t nb = (rows + kPQBlock - 1) / kPQBlock;
        L.codes.reserve(nb * kPQBlock * m_);
        L.ids.reserve(rows);
        L.seq.reserve(rows);
    }
    for (std::size_t i = 0; i < n; ++i) {
        List& L = lists_[static_cast<std::size_t>(lists[i])];
        const std::size_t r = L.ids.size();
        if (r % kPQBlock == 0) L.codes.resize(L.codes.size() + kPQBlock * m_, 0);  // new zero block
        uint8_t* blk = L.codes.data() + (r / kPQBlock) * kPQBlock * m_;
        const std::size_t rr = r % kPQBlock;
        for (std::size_t s = 0; s < m_; ++s) blk[s * kPQBlock + rr] = codes[i * m_ + s];
        L.ids.push_back(ids[i]);
        L.seq.push_back(static_cast<uint32_t>(seq[i]));
    }
    ntotal_ += n;
}

void PQCore::reset() {
    std::unique_lock<std::shared_mutex> lock(mu_);
    for (List& L : lists_) L = List();
    ntotal_ = 0;
}

std::vector<float> PQCore::centroids() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return centroids_;
}
std::vector<float> PQCore::anchors() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return anchors_;
}
std::vector<float> PQCore::rotation() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return rotation_;
}
std::vector<float> PQCore::codebooks() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return codebooks_;
}
std::vector<int64_t> PQCore::list_sizes() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    std::vector<int64_t> s(nlist_);
    for (std::size_t l = 0; l < nlist_; ++l) s[l] = static_cast<int64_t>(lists_[l].ids.size());
    return s;
}

void PQCore::export_state(std::vector<int64_t>& sizes, std::vector<int64_t>& ids, std::vector<int64_t>& seq,
                          std::vector<uint8_t>& codes) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    sizes.resize(nlist_);
    ids.resize(ntotal_);
    seq.resize(ntotal_);
    codes.resize(ntotal_ * m_);
    std::size_t o = 0;
    for (std::size_t l = 0; l < nlist_; ++l) {
        const List& L = lists_[l];
        const std::size_t n = L.ids.size();
        sizes[l] = static_cast<int64_t>(n);
        for (std::size_t r = 0; r < n; ++r, ++o) {
            ids[o] = L.ids[r];
            seq[o] = L.seq[r];
            const uint8_t* blk = L.codes.data() + (r / kPQBlock) * kPQBlock * m_;
            for (std::size_t s = 0; s < m_; ++s) codes[o * m_ + s] = blk[s * kPQBlock + r % kPQBlock];
        }
    }
}

void PQCore::coarse_probe(const float* q, std::size_t nq, std::size_t nprobe, int64_t* probes) const {
    if (nlist_ == 1) {
        std::fill(probes, probes + nq * nprobe, int64_t(0));
        return;
    }
    top_nearest(q, nq, dim_, packed_centroids_.data(), centroid_norms_.data(), nlist_, coarse_dim_, metric_ != kL2,
                nprobe, probes);
}

void PQCore::search(const float* xq, std::size_t nq, const PQSearchParams& p, float* D, int64_t* I) const {
    if (p.k == 0) throw std::invalid_argument("k must be >= 1");
    if (p.nprobe == 0 || p.nprobe > nlist_) throw std::invalid_argument("nprobe must be in 1..nlist");
    if (p.rerank_k > 0 && p.n0 + p.n1 > 0 && (!p.full0 || (p.n1 > 0 && !p.full1)))
        throw std::invalid_argument("full vectors missing");
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained before search");
    if (nq == 0) return;

    const std::size_t k = p.k;
    const bool rerank = p.rerank_k > 0;
    const std::size_t K1 = rerank ? std::max(k, p.rerank_k) : k;
    const std::size_t nprobe = p.nprobe;
    const std::size_t P = pq_dim_;
    const std::size_t M = m_;
    const std::size_t LS = M * kPQKsub;
    const std::size_t nfull = p.n0 + p.n1;
    const bool l2 = metric_ == kL2;
    const bool use_terms = l2 && !l2_terms_.empty();
    const PQKernels& pk = pq_kernels();
    const GemmFn gemm = kernels().gemm;
    const ScanFn scan = kernels().scan;
    const std::size_t cbps = packed_size(kPQKsub, dsub_);

    std::vector<int64_t> probes(nq * nprobe);
    coarse_probe(xq, nq, nprobe, probes.data());

    const std::size_t nthreads = static_cast<std::size_t>(max_threads());
    std::size_t chunk = std::max<std::size_t>(
        1, std::min<std::size_t>(256, std::max<std::size_t>((nq + 4 * nthreads - 1) / (4 * nthreads), 16)));
    chunk = std::max<std::size_t>(1, std::min(chunk, (std::size_t(64) << 20) / (12 * K1)));

    parallel_for_chunks(nq, chunk, [&](std::size_t qb, std::size_t qe) {
        const std::size_t cq = qe - qb;
        // Query targets (prefix, renormalised for cosine), rotated, and their LUT parts:
        // IP: <qr_s, c>; L2: -2 <qr_s, c>.
        std::vector<float> qt(cq * P), qr(cq * P), qlut(cq * LS);
        targets(xq + qb * dim_, cq, qt.data());
        if (!rotation_.empty())
            gemm(qt.data(), cq, P, packed_rotation_.data(), P, P, nullptr, 1.f, qr.data(), P);
        else
            qr = qt;
        for (std::size_t s = 0; s < M; ++s)
            gemm(qr.data() + s * dsub_, cq, P, packed_codebooks_.data() + s * cbps, kPQKsub, dsub_, nullptr,
                 l2 ? -2.f : 1.f, qlut.data() + s * kPQKsub, LS);

        std::vector<float> hd(cq * K1);
        std::vector<int64_t> hl(cq * K1);
        std::vector<TopK> heaps;
        heaps.reserve(cq);
        for (std::size_t j = 0; j < cq; ++j) heaps.emplace_back(hd.data() + j * K1, hl.data() + j * K1, K1);

        const ListGroups groups = group_by_list(probes.data() + qb * nprobe, cq, nprobe, nlist_);
        const std::vector<std::size_t>& start = groups.start;
        const std::vector<uint32_t>& members = groups.members;

        std::vector<float> lut(LS), out(kTileRows), diff(P);
        std::vector<float> bias(cq);
        for (std::size_t l = 0; l < nlist_; ++l) {
            if (start[l + 1] == start[l]) continue;
            const List& L = lists_[l];
            const std::size_t n = L.ids.size();
            if (n == 0) continue;
            const float* a = anchors_.data() + l * P;
            // Per-query constant of this list: L2 |qt - a|^2, IP <qt, a>.
            for (std::size_t mm = start[l]; mm < start[l + 1]; ++mm) {
                const std::size_t j = members[mm];
                const float* q = qt.data() + j * P;
                float s = 0.f;
                if (l2) {
                    for (std::size_t t = 0; t < P; ++t) {
                        const float d = q[t] - a[t];
                        s += d * d;
                    }
                } else {
                    for (std::size_t t = 0; t < P; ++t) s += q[t] * a[t];
                }
                bias[j] = s;
            }
            for (std::size_t r0 = 0; r0 < n; r0 += kTileRows) {
                const std::size_t t = std::min(kTileRows, n - r0);
                const std::size_t nb = (t + kPQBlock - 1) / kPQBlock;
                const uint8_t* codes = L.codes.data() + (r0 / kPQBlock) * kPQBlock * M;
                for (std::size_t mm = start[l]; mm < start[l + 1]; ++mm) {
                    const std::size_t j = members[mm];
                    const float* tab = qlut.data() + j * LS;
                    float b = bias[j];
                    if (l2) {
                        if (use_terms) {
                            pk.add(l2_terms_.data() + l * LS, tab, LS, lut.data());
                        } else {  // direct: |qr_s - a'_s - c|^2, constant 0
                            const float* ar = anchors_rot_.data() + l * P;
                            const float* qrj = qr.data() + j * P;
                            for (std::size_t u = 0; u < P; ++u) diff[u] = qrj[u] - ar[u];
                            for (std::size_t s = 0; s < M; ++s)
                                for (std::size_t c = 0; c < kPQKsub; ++c) {
                                    const float* w = codebooks_.data() + (s * kPQKsub + c) * dsub_;
                                    float acc = 0.f;
                                    for (std::size_t u = 0; u < dsub_; ++u) {
                                        const float d = diff[s * dsub_ + u] - w[u];
                                        acc += d * d;
                                    }
                                    lut[s * kPQKsub + c] = acc;
                                }
                            b = 0.f;
                        }
                        tab = lut.data();
                    }
                    pk.adc(tab, codes, nb, M, out.data());
                    TopK& h = heaps[j];
                    float thr = h.threshold();
                    for (std::size_t i = 0; i < t; ++i) {
                        const float dist = l2 ? b + out[i] : -(b + out[i]);
                        if (dist <= thr) {
                            if (rerank && L.seq[r0 + i] >= nfull) continue;
                            h.push(dist, make_label(l, r0 + i));
                            thr = h.threshold();
                        }
                    }
                }
            }
        }

        for (std::size_t j = 0; j < cq; ++j) {
            const float* q = xq + (qb + j) * dim_;
            float* d = hd.data() + j * K1;
            int64_t* lab = hl.data() + j * K1;
            if (rerank) {
                const int kind = l2 ? kScanL2 : kScanIP;
                for (std::size_t c = 0; c < K1; ++c) {
                    if (lab[c] < 0) continue;
                    const std::size_t sq = lists_[label_list(lab[c])].seq[label_row(lab[c])];
                    const float* row = sq < p.n0 ? p.full0 + sq * dim_ : p.full1 + (sq - p.n0) * dim_;
                    float acc = 0.f, accn = 0.f;
                    scan(kind, q, row, 1, dim_, dim_, &acc, &accn);
                    d[c] = l2 ? acc : -acc;
                }
                heaps[j].heapify();
            }
            heaps[j].sort();
            const float missing = l2 ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
            float* Dq = D + (qb + j) * k;
            int64_t* Iq = I + (qb + j) * k;
            for (std::size_t c = 0; c < k; ++c) {
                if (lab[c] < 0) {
                    Dq[c] = missing;
                    Iq[c] = -1;
                    continue;
                }
                Dq[c] = l2 ? d[c] : -d[c];
                Iq[c] = lists_[label_list(lab[c])].ids[label_row(lab[c])];
            }
        }
    });
}

}  // namespace adanns
