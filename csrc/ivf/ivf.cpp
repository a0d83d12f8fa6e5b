#include "ivf/ivf.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

#include "common/huge_pages.h"
#include "common/norms.h"
#include "common/parallel.h"
#include "graph/sq8.h"
#include "kernels/kernels.h"
#include "storage/list_walk.h"
#include "storage/remove.h"

namespace adanns {

IVFCore::IVFCore(std::size_t dim, std::size_t nlist, std::size_t coarse_dim, int metric)
    : dim_(dim), nlist_(nlist), coarse_dim_(coarse_dim), metric_(metric) {
    if (dim == 0) throw std::invalid_argument("dim must be >= 1");
    if (nlist == 0 || nlist > (std::size_t(1) << 31))
        throw std::invalid_argument("nlist must be in 1..2^31");
    if (coarse_dim == 0 || coarse_dim > dim)
        throw std::invalid_argument("coarse_dim must be in 1..dim");
    if (!valid_metric(metric)) throw std::invalid_argument("unknown metric");
    lists_ = InvertedLists(nlist, dim);
}

bool IVFCore::is_trained() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return trained_;
}

std::size_t IVFCore::ntotal() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return lists_.total();
}

int64_t IVFCore::next_id() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return next_id_;
}

void IVFCore::raise_next_id(int64_t v) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    next_id_ = std::max(next_id_, v);
}

void IVFCore::train(const float* x, std::size_t n, const KMeansParams& params_in) {
    if (n < nlist_)
        throw std::invalid_argument("training needs at least nlist = " + std::to_string(nlist_) +
                                    " vectors, got " + std::to_string(n));
    // Copy the coarse prefix (normalised per prefix for cosine: prefix cosine semantics).
    std::vector<float> prefix(n * coarse_dim_);
    parallel_for_chunks(n, 1024, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i)
            std::copy(x + i * dim_, x + i * dim_ + coarse_dim_, prefix.data() + i * coarse_dim_);
    });
    if (metric_ == kMetricCosine) normalize_rows(prefix.data(), n, coarse_dim_, prefix.data());
    KMeansParams params = params_in;
    params.k = nlist_;
    params.spherical = metric_ != kMetricL2;
    std::vector<float> c = nlist_ == 1 && !params.spherical
                               ? std::vector<float>(coarse_dim_, 0.f)
                               : kmeans_train(prefix.data(), n, coarse_dim_, params);
    set_centroids(c.data());
}

void IVFCore::set_centroids(const float* c) {
    std::vector<float> cent(c, c + nlist_ * coarse_dim_);
    std::vector<float> norms = row_sqnorms(cent.data(), nlist_, coarse_dim_, coarse_dim_);
    std::vector<float> packed(packed_size(nlist_, coarse_dim_));
    pack_panels(cent.data(), nlist_, coarse_dim_, coarse_dim_, packed.data());
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (lists_.total() > 0)
        throw std::logic_error("cannot change the centroids of an index that holds vectors");
    centroids_.swap(cent);
    centroid_norms_.swap(norms);
    packed_centroids_.swap(packed);
    trained_ = true;
    std::lock_guard<std::mutex> guard(panels_mu_);
    panels_.reset();
}

const float* IVFCore::prepare_rows(const float* x, std::size_t n, std::vector<float>& buf,
                                   std::vector<int64_t>& assign) const {
    if (metric_ == kMetricCosine) {
        buf.resize(n * dim_);
        normalize_rows(x, n, dim_, buf.data());
        x = buf.data();
    }
    assign.assign(n, 0);
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained before add");
    if (nlist_ > 1)
        assign_nearest(x, n, dim_, centroids_.data(), nlist_, coarse_dim_, metric_ != kMetricL2,
                       assign.data());
    return x;
}

void IVFCore::prepare(const float* x, std::size_t n, float* rows_out, int64_t* lists) const {
    std::vector<float> buf;
    std::vector<int64_t> assign;
    const float* rows = prepare_rows(x, n, buf, assign);
    if (rows != x) std::copy(rows, rows + n * dim_, rows_out);
    std::copy(assign.begin(), assign.end(), lists);
}

void IVFCore::add(const float* x, std::size_t n, const int64_t* ids) {
    if (n == 0) return;
    std::vector<float> buf;
    std::vector<int64_t> assign;
    x = prepare_rows(x, n, buf, assign);
    std::unique_lock<std::shared_mutex> lock(mu_);
    add_locked(x, n, ids, assign.data());
}

std::size_t IVFCore::remove_ids(const int64_t* ids, std::size_t n) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    return remove_locked(ids, n);
}

std::size_t IVFCore::update(const float* x, std::size_t n, const int64_t* ids) {
    if (n == 0) return 0;
    std::vector<float> buf;
    std::vector<int64_t> assign;
    x = prepare_rows(x, n, buf, assign);
    std::unique_lock<std::shared_mutex> lock(mu_);
    // Everything that allocates happens before the first row is removed, so a failed
    // allocation leaves the index unchanged.
    std::vector<std::size_t> extra(nlist_, 0);
    for (std::size_t i = 0; i < n; ++i) ++extra[static_cast<std::size_t>(assign[i])];
    for (std::size_t l = 0; l < nlist_; ++l)
        if (extra[l]) lists_.reserve(l, lists_.list_size(l) + extra[l]);
    const std::size_t removed = remove_locked(ids, n, &extra);  // (lists emptied here keep their capacity)
    add_locked(x, n, ids, assign.data());
    return removed;
}

std::size_t IVFCore::remove_locked(const int64_t* ids, std::size_t n, const std::vector<std::size_t>* reserved) {
    if (n > 0 && lists_.mapped_lists() > 0) {
        // Mapped lists that lose rows are copied into RAM first (serially, before any row
        // moves), so that the removal itself never allocates.
        std::vector<int64_t> sorted(ids, ids + n);
        std::sort(sorted.begin(), sorted.end());
        for (std::size_t l = 0; l < nlist_; ++l) {
            if (!lists_.is_mapped(l)) continue;
            const int64_t* lid = lists_.ids(l);
            for (std::size_t r = 0, sz = lists_.list_size(l); r < sz; ++r)
                if (std::binary_search(sorted.begin(), sorted.end(), lid[r])) {
                    lists_.make_resident(l);
                    break;
                }
        }
    }
    ++version_;
    return remove_ids_from(lists_, ids, n, reserved);
}

void IVFCore::map_lists(const std::string& path, std::size_t offset, const int64_t* sizes, const int64_t* ids) {
    std::size_t total = 0;
    for (std::size_t l = 0; l < nlist_; ++l) {
        if (sizes[l] < 0) throw std::invalid_argument("negative list size");
        total += static_cast<std::size_t>(sizes[l]);
    }
    if (offset % alignof(float) != 0) throw std::invalid_argument("the vector section is not aligned for floats");
    std::shared_ptr<const FileMap> map;
    if (total > 0) map = std::make_shared<const FileMap>(path, offset, total * dim_ * sizeof(float));
    int64_t next = 0;
    for (std::size_t i = 0; i < total; ++i) next = std::max(next, ids[i] + 1);
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained before its lists are mapped");
    if (lists_.total() > 0) throw std::logic_error("cannot map lists into an index that holds vectors");
    lists_.map_rows(std::move(map), sizes, ids);
    ++version_;
    next_id_ = next;
}

std::size_t IVFCore::mapped_lists() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return lists_.mapped_lists();
}

void IVFCore::add_preassigned(const float* x, std::size_t n, const int64_t* ids, const int64_t* lists) {
    for (std::size_t i = 0; i < n; ++i)
        if (lists[i] < 0 || static_cast<std::size_t>(lists[i]) >= nlist_)
            throw std::invalid_argument("list number out of range");
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (!trained_) throw std::logic_error("the index must be trained before add");
    add_locked(x, n, ids, lists);
}

void IVFCore::add_locked(const float* x, std::size_t n, const int64_t* ids, const int64_t* lists) {
    // Group rows by list (stable), reserve everything first so that an allocation
    // failure leaves the index unchanged, then append (cannot fail, cannot be interrupted).
    const NoCancel whole;
    ++version_;
    std::vector<std::size_t> start(nlist_ + 1, 0);
    for (std::size_t i = 0; i < n; ++i) ++start[static_cast<std::size_t>(lists[i]) + 1];
    for (std::size_t l = 0; l < nlist_; ++l) {
        start[l + 1] += start[l];
        if (lists_.list_size(l) + (start[l + 1] - start[l]) > (std::size_t(1) << 32) - 1)
            throw std::length_error("an inverted list would exceed 2^32 rows");
    }
    std::vector<std::size_t> order(n);
    {
        std::vector<std::size_t> pos(start.begin(), start.end() - 1);
        for (std::size_t i = 0; i < n; ++i) order[pos[static_cast<std::size_t>(lists[i])]++] = i;
    }
    for (std::size_t l = 0; l < nlist_; ++l)
        if (start[l + 1] > start[l]) lists_.reserve(l, lists_.list_size(l) + start[l + 1] - start[l]);
    const int64_t base = next_id_;
    parallel_for_chunks(nlist_, 16, [&](std::size_t lb, std::size_t le) {
        for (std::size_t l = lb; l < le; ++l)
            for (std::size_t j = start[l]; j < start[l + 1]; ++j) {
                const std::size_t i = order[j];
                lists_.append(l, x + i * dim_, ids ? ids[i] : base + static_cast<int64_t>(i));
            }
    });
    lists_.recount();
    if (ids) {
        for (std::size_t i = 0; i < n; ++i) next_id_ = std::max(next_id_, ids[i] + 1);
    } else {
        next_id_ = base + static_cast<int64_t>(n);
    }
}

void IVFCore::reset() {
    std::unique_lock<std::shared_mutex> lock(mu_);
    lists_.clear();
    ++version_;
    next_id_ = 0;
    release_free_memory();
}

std::vector<float> IVFCore::centroids() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return centroids_;
}

std::vector<int64_t> IVFCore::list_sizes() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return list_sizes_of(lists_);
}

void IVFCore::export_state(std::vector<int64_t>& sizes, std::vector<int64_t>& ids,
                           std::vector<float>& vectors) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    sizes = list_sizes_of(lists_);
    ids.resize(lists_.total());
    vectors.resize(lists_.total() * dim_);
    for_each_list(lists_, [&](std::size_t l, std::size_t n, std::size_t row) {
        std::copy(lists_.ids(l), lists_.ids(l) + n, ids.begin() + row);
        std::copy(lists_.list_data(l), lists_.list_data(l) + n * dim_, vectors.begin() + row * dim_);
    });
}

std::shared_ptr<const ScanCodes> IVFCore::scan_codes() const {
    std::lock_guard<std::mutex> guard(codes_mu_);
    if (codes_ && codes_->version == version_) return codes_;
    codes_.reset();  // (the old copy's memory first)
    auto c = std::make_shared<ScanCodes>();
    c->version = version_;
    c->wide = std::min(kSq8Wide, dim_);
    c->block_bytes = sq8_block_bytes(dim_, c->wide);
    c->start.assign(nlist_ + 1, 0);
    for (std::size_t l = 0; l < nlist_; ++l)
        c->start[l + 1] = c->start[l] + (lists_.list_size(l) + kSq8BlockRows - 1) / kSq8BlockRows;
    // the quantiser: [min, max] of each dim over every stored row
    c->lo.assign(dim_, std::numeric_limits<float>::infinity());
    std::vector<float> hi(dim_, -std::numeric_limits<float>::infinity());
    for (std::size_t l = 0; l < nlist_; ++l)
        sq8_range(lists_.list_data(l), lists_.list_size(l), dim_, dim_, c->lo.data(), hi.data());
    c->step.resize(dim_);
    sq8_steps(c->lo.data(), hi.data(), dim_, c->wide, c->step.data());
    c->codes.resize(c->start[nlist_] * c->block_bytes);
    parallel_for_chunks(nlist_, 16, [&](std::size_t lb, std::size_t le) {
        for (std::size_t l = lb; l < le; ++l)
            sq8_encode_blocks(lists_.list_data(l), lists_.list_size(l), dim_, dim_, c->wide, c->lo.data(),
                              c->step.data(), c->codes.data() + c->start[l] * c->block_bytes);
    });
    codes_ = std::move(c);
    return codes_;
}

}  // namespace adanns
