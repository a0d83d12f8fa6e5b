// Inverted lists of float rows: per list, the ids and the full vectors. A list in RAM holds the
// first kPrefixDims dims of its rows in dim groups (kernels/row_layout.h): with room for cap
// rows, dims [32g, 32g + 32) of all its rows lie together at rows + 32 * g * cap, and the rest of
// each row (the tail) is row-major after the groups. A scan of a prefix of s <= 128 dims reads
// s / 32 contiguous runs (the prefix's bytes only; a row-major list gives a strided stream of
// short pieces), and a rerank of dims from 128 on reads one contiguous piece of each row. The
// kernels take the layout of each list (layout(l)).
//
// The rows may instead be served from a memory-mapped index file (map_rows: the file's vector
// section holds the lists one after the other, each row-major with stride dim): such a list has
// the row-major layout. A mapped list is copied into RAM (and into dim groups) the first time it
// is changed (append, compact, reserve): copy-on-write per list, so adds and removals work and
// touch only the lists they change.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/row_layout.h"
#include "storage/file_map.h"

namespace adanns {

class InvertedLists {
public:
    // Dims kept in dim groups in RAM by default (the rest of each row is row-major after them).
    // 256 measured best of 64 / 128 / 256 / all on 98k x 384 real embeddings (docs/design.md):
    // the scans of 32-256 dims read whole runs, the rerank of the dims after the scanned prefix
    // a few pieces per row. set_prefix_dims(0) keeps the rows row-major (an index whose scan
    // reads the int8 copy reads its float rows only whole, to rerank them).
    static constexpr std::size_t kPrefixDims = 256;
    InvertedLists() = default;
    InvertedLists(std::size_t nlist, std::size_t dim);

    std::size_t nlist() const { return lists_.size(); }
    std::size_t dim() const { return dim_; }
    std::size_t list_size(std::size_t l) const { return lists_[l].ids.size(); }
    std::size_t total() const { return total_; }

    const int64_t* ids(std::size_t l) const { return lists_[l].ids.data(); }
    // The rows of list l (row r, dim d at layout(l).at(rows(l), r, d)).
    const float* rows(std::size_t l) const {
        const List& L = lists_[l];
        return L.mapped ? L.mapped : L.rows.data();
    }
    const RowLayout& layout(std::size_t l) const { return lists_[l].layout; }
    std::size_t prefix_dims() const { return prefix_; }
    // Dims in groups of the lists in RAM from now on (mapped lists stay row-major until changed):
    // every list in RAM is laid out again, one at a time. May throw std::bad_alloc, leaving the
    // lists not yet done in their old layout (each list knows its own).
    void set_prefix_dims(std::size_t p);
    RowRef row(std::size_t l, std::size_t r) const { return RowRef{rows(l), r, layout(l)}; }
    // Copies the rows of list l, row-major (list_size(l) x dim floats), to out.
    void copy_rows(std::size_t l, float* out) const;

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
    std::size_t compact(std::size_t l, const std::vector<char>& keep);  // keep.size() >= list size

private:
    struct List {
        std::vector<int64_t> ids;
        std::vector<float> rows;         // cap x dim, group-major (unless mapped)
        std::size_t cap = 0;             // rows that fit in `rows`
        std::size_t prefix = 0;          // dims in groups (layout_for)
        const float* mapped = nullptr;   // rows in the mapped file (row-major), or null
        RowLayout layout{0, 0, 0, 0};    // of the rows: layout_for(cap, prefix), row-major if mapped
    };
    // The layout of a list in RAM with room for cap rows and `prefix` dims in groups: row-major
    // when the rows are not longer than the prefix (short rows are read whole: one run, measured
    // faster than groups on 50- and 128-dim sets).
    RowLayout layout_for(std::size_t cap, std::size_t prefix) const {
        return dim_ > prefix && prefix >= kDimGroup ? prefix_group_layout(dim_, cap, prefix) : row_major_layout(dim_);
    }
    // Moves list l's rows into a new RAM buffer of room for cap >= list_size(l) rows, laid out
    // with prefix_ dims in groups. May throw std::bad_alloc, leaving the list unchanged.
    void relayout(List& list, std::size_t cap) const;
    std::shared_ptr<const FileMap> map_;
    std::size_t dim_ = 0;
    std::size_t total_ = 0;
    std::size_t prefix_ = kPrefixDims;
    std::vector<List> lists_;
};

}  // namespace adanns
