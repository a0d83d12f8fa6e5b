#include "storage/invlists.h"

#include <algorithm>

namespace adanns {

InvertedLists::InvertedLists(std::size_t nlist, std::size_t dim) : dim_(dim), lists_(nlist) {}

void InvertedLists::make_resident(std::size_t l, std::size_t extra) {
    List& list = lists_[l];
    if (!list.mapped) return;
    const std::size_t n = list.ids.size();
    Rows rows;
    rows.reserve((n + extra) * dim_);
    rows.assign(list.mapped, list.mapped + n * dim_);
    list.rows.swap(rows);
    list.mapped = nullptr;
}

void InvertedLists::map_rows(std::shared_ptr<const FileMap> map, const int64_t* sizes, const int64_t* ids) {
    const std::size_t nlist = lists_.size();
    std::vector<List> lists(nlist);
    const float* base = map ? reinterpret_cast<const float*>(map->data()) : nullptr;
    std::size_t row = 0;
    for (std::size_t l = 0; l < nlist; ++l) {
        const std::size_t n = static_cast<std::size_t>(sizes[l]);
        lists[l].ids.assign(ids + row, ids + row + n);
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
    make_resident(l, n > list_size(l) ? n - list_size(l) : 0);
    List& list = lists_[l];
    if (list.ids.capacity() < n) list.ids.reserve(n);
    if (list.rows.capacity() < n * dim_) list.rows.reserve(n * dim_);
}

void InvertedLists::append(std::size_t l, const float* x, int64_t id) {
    make_resident(l, 1);
    List& list = lists_[l];
    // Grow both buffers first: if an allocation fails nothing has changed yet.
    auto grow = [](auto& v, std::size_t extra) {
        if (v.capacity() < v.size() + extra) v.reserve(std::max(2 * v.capacity(), v.size() + extra));
    };
    grow(list.ids, 1);
    grow(list.rows, dim_);
    list.rows.insert(list.rows.end(), x, x + dim_);
    list.ids.push_back(id);
}

void InvertedLists::clear() {
    for (List& l : lists_) {  // the memory is released, not only the sizes
        std::vector<int64_t>().swap(l.ids);
        Rows().swap(l.rows);
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

std::size_t InvertedLists::compact(std::size_t l, const std::vector<char>& keep, bool release_empty) {
    make_resident(l, 0);
    List& list = lists_[l];
    const std::size_t n = list.ids.size();
    std::size_t out = 0;
    for (std::size_t r = 0; r < n; ++r) {
        if (!keep[r]) continue;
        if (out != r) {
            list.ids[out] = list.ids[r];
            std::copy(list.rows.begin() + r * dim_, list.rows.begin() + (r + 1) * dim_,
                      list.rows.begin() + out * dim_);
        }
        ++out;
    }
    if (out == 0 && release_empty) {  // an emptied list gives its memory back (no allocation)
        std::vector<int64_t>().swap(list.ids);
        Rows().swap(list.rows);
    } else {
        list.ids.resize(out);
        list.rows.resize(out * dim_);
    }
    return n - out;
}

}  // namespace adanns
