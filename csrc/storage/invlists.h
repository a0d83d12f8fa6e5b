// Inverted lists of float rows: per list, the ids and ONE contiguous row-major array of the
// full vectors (row stride = dim). A scan of a prefix of s dims reads the first s floats of
// each row (the scan kernels take the row stride separately from the width scanned), and a
// rerank reads one contiguous row.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

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
    const float* list_data(std::size_t l) const { return lists_[l].rows.data(); }
    const float* row(std::size_t l, std::size_t r) const { return lists_[l].rows.data() + r * dim_; }

    // Appends one full-dimension row.
    void append(std::size_t l, const float* x, int64_t id);
    void reserve(std::size_t l, std::size_t n);
    void clear();
    // Recomputes the total after appends made from several threads.
    void recount();
    // Removes the rows of list l whose keep[r] is false, keeping the order of the others.
    // Returns the number removed. Never allocates.
    std::size_t compact(std::size_t l, const std::vector<char>& keep);  // keep.size() >= list size

private:
    struct List {
        std::vector<int64_t> ids;
        std::vector<float> rows;  // size() x dim
    };
    std::size_t dim_ = 0;
    std::size_t total_ = 0;
    std::vector<List> lists_;
};

}  // namespace adanns
