#include "storage/invlists.h"

#include <algorithm>
#include <cstring>

namespace adanns {

InvertedLists::InvertedLists(std::size_t nlist, std::size_t dim) : dim_(dim), lists_(nlist) {
    for (List& list : lists_) list.layout = row_major_layout(dim_);
}

void InvertedLists::relayout(List& list, std::size_t cap) const {
    const std::size_t n = list.ids.size();
    const RowLayout from = list.layout;
    const float* src = list.mapped ? list.mapped : list.rows.data();
    std::vector<float> rows(cap * dim_);  // (may throw: nothing has changed yet)
    const RowLayout to = layout_for(cap, prefix_);
    const bool same = !list.mapped && list.prefix == prefix_;
    for (std::size_t d = 0; d < dim_;) {  // each piece of the new layout
        const std::size_t w = std::min(to.run(d), dim_ - d);
        if (same) {  // the same layout with more room: one run per piece
            if (n) std::memcpy(to.at(rows.data(), 0, d), from.at(src, 0, d), n * w * sizeof(float));
        } else {  // row by row, piece by piece of the old layout
            for (std::size_t r = 0; r < n; ++r) {
                float* out = to.at(rows.data(), r, d);
                for_each_piece(src, r, from, d, d + w, [&](const float* p, std::size_t m) {
                    std::memcpy(out, p, m * sizeof(float));
                    out += m;
                });
            }
        }
        d += w;
    }
    list.rows.swap(rows);
    list.cap = cap;
    list.prefix = prefix_;
    list.layout = to;
    list.mapped = nullptr;
}

void InvertedLists::set_prefix_dims(std::size_t p) {
    prefix_ = p;
    for (List& list : lists_)
        if (!list.mapped && list.prefix != p) relayout(list, list.cap);
}

void InvertedLists::make_resident(std::size_t l, std::size_t extra) {
    List& list = lists_[l];
    if (!list.mapped) return;
    relayout(list, list.ids.size() + extra);
}

void InvertedLists::copy_rows(std::size_t l, float* out) const {
    const List& list = lists_[l];
    const std::size_t n = list.ids.size();
    const RowLayout L = layout(l);
    const float* src = rows(l);
    for (std::size_t r = 0; r < n; ++r)
        for_each_piece(src, r, L, 0, dim_, [&](const float* p, std::size_t w) {
            std::memcpy(out, p, w * sizeof(float));
            out += w;
        });
}

void InvertedLists::map_rows(std::shared_ptr<const FileMap> map, const int64_t* sizes, const int64_t* ids) {
    const std::size_t nlist = lists_.size();
    std::vector<List> lists(nlist);
    const float* base = map ? reinterpret_cast<const float*>(map->data()) : nullptr;
    std::size_t row = 0;
    for (std::size_t l = 0; l < nlist; ++l) {
        const std::size_t n = static_cast<std::size_t>(sizes[l]);
        lists[l].ids.assign(ids + row, ids + row + n);
        lists[l].layout = row_major_layout(dim_);
        if (n) lists[l].mapped = base + row * dim_;
        row += n;
    }
    lists_.swap(lists);
    map_ = std::move(map);
    total_ = row;
}

std::size_t InvertedLists::mapped_lists() const {
    std::size_t n = 0;
    for (const List& l : lists_) n += l.mapped != nullptr;
    return n;
}

void InvertedLists::reserve(std::size_t l, std::size_t n) {
    List& list = lists_[l];
    if (list.mapped) {
        relayout(list, std::max(n, list.ids.size()));
    } else if (list.cap < n) {
        relayout(list, n);
    }
    if (list.ids.capacity() < n) list.ids.reserve(n);
}

void InvertedLists::append(std::size_t l, const float* x, int64_t id) {
    List& list = lists_[l];
    const std::size_t n = list.ids.size();
    // Grow both buffers first: if an allocation fails nothing has changed yet.
    if (list.mapped || list.cap < n + 1) relayout(list, std::max(2 * list.cap, n + 1));
    if (list.ids.capacity() < n + 1) list.ids.reserve(std::max(2 * list.ids.capacity(), n + 1));
    const RowLayout L = list.layout;
    for_each_piece(list.rows.data(), n, L, 0, dim_, [&](const float* p, std::size_t w) {
        std::memcpy(const_cast<float*>(p), x, w * sizeof(float));  // (p is in list.rows)
        x += w;
    });
    list.ids.push_back(id);
}

void InvertedLists::clear() {
    for (List& l : lists_) {  // the memory is released, not only the sizes
        std::vector<int64_t>().swap(l.ids);
        std::vector<float>().swap(l.rows);
        l.cap = 0;
        l.layout = row_major_layout(dim_);
        l.mapped = nullptr;
    }
    map_.reset();
    total_ = 0;
}

void InvertedLists::recount() {
    std::size_t t = 0;
    for (const List& l : lists_) t += l.ids.size();
    total_ = t;
}

std::size_t InvertedLists::compact(std::size_t l, const std::vector<char>& keep) {
    make_resident(l, 0);
    List& list = lists_[l];
    const std::size_t n = list.ids.size();
    const RowLayout L = list.layout;
    float* base = list.rows.data();
    std::size_t out = 0;
    for (std::size_t r = 0; r < n; ++r) {
        if (!keep[r]) continue;
        if (out != r) {
            list.ids[out] = list.ids[r];
            for (std::size_t d = 0; d < dim_;) {  // (out < r: the pieces never overlap)
                const std::size_t w = std::min(L.run(d), dim_ - d);
                std::memcpy(L.at(base, out, d), L.at(base, r, d), w * sizeof(float));
                d += w;
            }
        }
        ++out;
    }
    if (out == 0) {  // an emptied list gives its memory back (no allocation)
        std::vector<int64_t>().swap(list.ids);
        std::vector<float>().swap(list.rows);
        list.cap = 0;
        list.layout = row_major_layout(dim_);
    } else {
        list.ids.resize(out);
    }
    return n - out;
}

}  // namespace adanns
