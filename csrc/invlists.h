// Inverted lists: per list, the ids and the vectors, stored in dimension blocks.
//
// Block b of a list holds dims [b*kBlockDim, min((b+1)*kBlockDim, dim)) of every row,
// row-major within the block. Scanning a prefix of s dims therefore reads only the
// first ceil(s / kBlockDim) blocks, each one a contiguous stream.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace adanns {

constexpr std::size_t kBlockDim = 32;

struct InvList {
    std::vector<int64_t> ids;
    std::vector<std::vector<float>> blocks;  // blocks[b]: size() x block_width(b)
    std::size_t size() const { return ids.size(); }
};

class InvertedLists {
public:
    InvertedLists() = default;
    InvertedLists(std::size_t nlist, std::size_t dim);

    std::size_t nlist() const { return lists_.size(); }
    std::size_t dim() const { return dim_; }
    std::size_t nblocks() const { return nblocks_; }
    std::size_t block_begin(std::size_t b) const { return b * kBlockDim; }
    std::size_t block_width(std::size_t b) const;
    std::size_t list_size(std::size_t l) const { return lists_[l].size(); }
    std::size_t total() const { return total_; }

    const int64_t* ids(std::size_t l) const { return lists_[l].ids.data(); }
    const float* block(std::size_t l, std::size_t b) const { return lists_[l].blocks[b].data(); }

    // Appends one full-dimension row.
    void append(std::size_t l, const float* x, int64_t id);
    void reserve(std::size_t l, std::size_t n);
    // Copies row r of list l (all dims) into out.
    void reconstruct(std::size_t l, std::size_t r, float* out) const;
    void clear();
    // Recomputes the total after appends made from several threads.
    void recount();
    // Removes the rows of list l whose keep[r] is false, keeping the order of the others.
    // Returns the number removed. Never allocates.
    std::size_t compact(std::size_t l, const std::vector<char>& keep);  // keep.size() >= list size

private:
    std::size_t dim_ = 0;
    std::size_t nblocks_ = 0;
    std::size_t total_ = 0;
    std::vector<InvList> lists_;
};

}  // namespace adanns
