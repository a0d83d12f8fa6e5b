#include "storage/code_lists.h"

#include <algorithm>
#include <stdexcept>

namespace adanns {

void CodeLists::codes_of(std::size_t l, std::size_t r, uint8_t* out) const {
    const uint8_t* g = groups(l, r - r % kCodeGroup);
    for (std::size_t s = 0; s < m_; ++s) out[s] = g[s * kCodeGroup + r % kCodeGroup];
}

void CodeLists::reserve(std::size_t l, std::size_t extra) {
    List& L = lists_[l];
    const std::size_t rows = L.ids.size() + extra;
    if (rows >= (std::size_t(1) << 32)) throw std::length_error("a list would exceed 2^32 rows");
    const std::size_t ng = (rows + kCodeGroup - 1) / kCodeGroup;
    L.codes.reserve(ng * kCodeGroup * m_);
    L.ids.reserve(rows);
    L.seq.reserve(rows);
}

void CodeLists::put(List& L, std::size_t r, const uint8_t* codes) {
    uint8_t* g = L.codes.data() + (r / kCodeGroup) * kCodeGroup * m_;
    for (std::size_t s = 0; s < m_; ++s) g[s * kCodeGroup + r % kCodeGroup] = codes[s];
}

void CodeLists::append(std::size_t l, const uint8_t* codes, int64_t id, uint32_t seq) {
    List& L = lists_[l];
    const std::size_t r = L.ids.size();
    if (r % kCodeGroup == 0) L.codes.resize(L.codes.size() + kCodeGroup * m_, 0);  // new zero group
    put(L, r, codes);
    L.ids.push_back(id);
    L.seq.push_back(seq);
    ++total_;
}

std::size_t CodeLists::compact(std::size_t l, const std::vector<char>& keep, bool release_empty) {
    List& L = lists_[l];
    const std::size_t n = L.ids.size();
    std::size_t out = 0;
    uint8_t tmp[256];
    for (std::size_t r = 0; r < n; ++r) {
        if (!keep[r]) continue;
        if (out != r) {
            L.ids[out] = L.ids[r];
            L.seq[out] = L.seq[r];
            for (std::size_t s0 = 0; s0 < m_; s0 += 256) {  // m may exceed the buffer: copy in slices
                const std::size_t w = std::min<std::size_t>(256, m_ - s0);
                const uint8_t* gs = L.codes.data() + (r / kCodeGroup) * kCodeGroup * m_;
                uint8_t* gd = L.codes.data() + (out / kCodeGroup) * kCodeGroup * m_;
                for (std::size_t s = 0; s < w; ++s) tmp[s] = gs[(s0 + s) * kCodeGroup + r % kCodeGroup];
                for (std::size_t s = 0; s < w; ++s) gd[(s0 + s) * kCodeGroup + out % kCodeGroup] = tmp[s];
            }
        }
        ++out;
    }
    if (out == 0 && release_empty) {  // an emptied list gives its memory back (no allocation)
        L = List();
        return n;
    }
    L.ids.resize(out);
    L.seq.resize(out);
    const std::size_t ng = (out + kCodeGroup - 1) / kCodeGroup;
    L.codes.resize(ng * kCodeGroup * m_);
    // Zero the padding of the last group, as append leaves it.
    if (out % kCodeGroup) {
        uint8_t* g = L.codes.data() + (ng - 1) * kCodeGroup * m_;
        for (std::size_t s = 0; s < m_; ++s)
            std::fill(g + s * kCodeGroup + out % kCodeGroup, g + (s + 1) * kCodeGroup, uint8_t(0));
    }
    return n - out;
}

void CodeLists::recount() {
    std::size_t t = 0;
    for (const List& L : lists_) t += L.ids.size();
    total_ = t;
}

void CodeLists::clear() {
    for (List& L : lists_) L = List();
    total_ = 0;
}

}  // namespace adanns
