// Inverted lists of float rows: per list, the ids and ONE contiguous row-major array of the
// full vectors (row stride = dim). A scan of a prefix of s dims reads the first s floats of
// each row (the scan kernels take the row stride separately from the width scanned), and a
// rerank reads one contiguous row.
//
// The rows may instead be served from a memory-mapped index file (map_rows: the file's vector
// section holds the lists one after the other, each row-major with stride dim, i.e. exactly this
// layout). A mapped list is copied into RAM the first time it is changed (append, compact,
// reserve): copy-on-write per list, so adds and removals work and touch only the lists they change.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/huge_pages.h"
#include "storage/file_map.h"

namespace adanns {

class InvertedLists {
public:
    InvertedLists() = default;
    InvertedLists(std::size_t nlist, std::size_t dim);

    std::size_t nlist() const { return lists_.size(); }
    std::size_t dim() const { return dim_; }
    std::size_t list_size(std::size_t l) const { return lists_[l].ids.size(); }
    std::size_t total() const { return total_; }

    const int64_t* ids(std::size_t l) const { return lists_[l].ids.data(); }
    // list_size(l) x dim floats, row-major.
    const float* list_data(std::size_t l) const {
        const List& L = lists_[l];
        return L.mapped ? L.mapped : L.rows.data();
    }
    const float* row(std::size_t l, std::size_t r) const { return list_data(l) + r * dim_; }

    // Replaces the content: list l gets sizes[l] rows, its ids copied from `ids` and its rows served
    // from `map` (the concatenated lists, row-major, stride dim, starting at map->data()).
    void map_rows(std::shared_ptr<const FileMap> map, const int64_t* sizes, const int64_t* ids);
    // Number of lists whose rows are still served from the mapped file.
    std::size_t mapped_lists() const;
    bool is_mapped(std::size_t l) const { return lists_[l].mapped != nullptr; }
    // Copy-on-write: moves list l's mapped rows into RAM (with room for `extra` more rows); a list
    // already in RAM is left as it is. May throw std::bad_alloc, leaving the list unchanged.
    void make_resident(std::size_t l, std::size_t extra = 0);

    // Appends one full-dimension row.
    void append(std::size_t l, const float* x, int64_t id);
    void reserve(std::size_t l, std::size_t n);
    void clear();
    // Recomputes the total after appends made from several threads.
    void recount();
    // Removes the rows of list l whose keep[r] is false, keeping the order of the others.
    // Returns the number removed. Never allocates for a list in RAM (see make_resident).
    // Keeps the rows r with keep[r] (keep.size() >= list size); a list left empty frees its
    // arrays unless release_empty is false (an update keeps what it reserved for its adds).
    std::size_t compact(std::size_t l, const std::vector<char>& keep, bool release_empty = true);

private:
    using Rows = std::vector<float, CacheLineAllocator<float>>;  // starts on a cache line
    struct List {
        std::vector<int64_t> ids;
        Rows rows;                       // size() x dim (unless mapped)
        const float* mapped = nullptr;   // rows in the mapped file, or null
    };
    std::shared_ptr<const FileMap> map_;
    std::size_t dim_ = 0;
    std::size_t total_ = 0;
    std::vector<List> lists_;
};

}  // namespace adanns
