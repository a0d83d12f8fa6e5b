#include "invlists.h"

#include <algorithm>

namespace adanns {

InvertedLists::InvertedLists(std::size_t nlist, std::size_t dim)
    : dim_(dim), nblocks_((dim + kBlockDim - 1) / kBlockDim), lists_(nlist) {
    for (InvList& l : lists_) l.blocks.resize(nblocks_);
}

std::size_t InvertedLists::block_width(std::size_t b) const {
    const std::size_t begin = b * kBlockDim;
    return std::min(kBlockDim, dim_ - begin);
}

void InvertedLists::reserve(std::size_t l, std::size_t n) {
    InvList& list = lists_[l];
    if (list.ids.capacity() < n) list.ids.reserve(n);
    for (std::size_t b = 0; b < nblocks_; ++b)
        if (list.blocks[b].capacity() < n * block_width(b)) list.blocks[b].reserve(n * block_width(b));
}

void InvertedLists::append(std::size_t l, const float* x, int64_t id) {
    InvList& list = lists_[l];
    // Grow every buffer first: if an allocation fails nothing has changed yet.
    auto grow = [](auto& v, std::size_t extra) {
        if (v.capacity() < v.size() + extra) v.reserve(std::max(2 * v.capacity(), v.size() + extra));
    };
    grow(list.ids, 1);
    for (std::size_t b = 0; b < nblocks_; ++b) grow(list.blocks[b], block_width(b));
    for (std::size_t b = 0; b < nblocks_; ++b) {
        const float* src = x + block_begin(b);
        list.blocks[b].insert(list.blocks[b].end(), src, src + block_width(b));
    }
    list.ids.push_back(id);
}

void InvertedLists::reconstruct(std::size_t l, std::size_t r, float* out) const {
    const InvList& list = lists_[l];
    for (std::size_t b = 0; b < nblocks_; ++b) {
        const std::size_t w = block_width(b);
        const float* src = list.blocks[b].data() + r * w;
        std::copy(src, src + w, out + block_begin(b));
    }
}

void InvertedLists::clear() {
    for (InvList& l : lists_) {
        l.ids.clear();
        for (auto& b : l.blocks) b.clear();
    }
    total_ = 0;
}

}  // namespace adanns

namespace adanns {
void InvertedLists::recount() {
    std::size_t t = 0;
    for (const InvList& l : lists_) t += l.size();
    total_ = t;
}
}  // namespace adanns

namespace adanns {
std::size_t InvertedLists::compact(std::size_t l, const std::vector<char>& keep) {
    InvList& list = lists_[l];
    const std::size_t n = list.size();
    std::size_t out = 0;
    for (std::size_t r = 0; r < n; ++r) {
        if (!keep[r]) continue;
        if (out != r) {
            list.ids[out] = list.ids[r];
            for (std::size_t b = 0; b < nblocks_; ++b) {
                const std::size_t w = block_width(b);
                std::copy(list.blocks[b].begin() + r * w, list.blocks[b].begin() + (r + 1) * w,
                          list.blocks[b].begin() + out * w);
            }
        }
        ++out;
    }
    list.ids.resize(out);
    for (std::size_t b = 0; b < nblocks_; ++b) list.blocks[b].resize(out * block_width(b));
    return n - out;
}
}  // namespace adanns
