// Inverted lists of PQ codes: per list, the ids, the row of each entry's full vector in the
// rerank store (seq), and the codes in code groups of kCodeGroup rows, sub-space major inside a
// group (the layout of the ADC kernels, kernels/pq_kernels.h). A partial last group is padded
// with code 0.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/pq_kernels.h"

namespace adanns {

class CodeLists {
public:
    CodeLists() = default;
    CodeLists(std::size_t nlist, std::size_t m) : m_(m), lists_(nlist) {}

    std::size_t nlist() const { return lists_.size(); }
    std::size_t m() const { return m_; }
    std::size_t list_size(std::size_t l) const { return lists_[l].ids.size(); }
    std::size_t total() const { return total_; }
    const int64_t* ids(std::size_t l) const { return lists_[l].ids.data(); }
    const uint32_t* seq(std::size_t l) const { return lists_[l].seq.data(); }
    // The code groups holding rows [r0, ...) of list l (r0 a multiple of kCodeGroup).
    const uint8_t* groups(std::size_t l, std::size_t r0) const {
        return lists_[l].codes.data() + (r0 / kCodeGroup) * kCodeGroup * m_;
    }
    // The m codes of row r of list l, row-major, into out.
    void codes_of(std::size_t l, std::size_t r, uint8_t* out) const;

    // Room for `extra` more rows in list l (may throw; call before mutating).
    void reserve(std::size_t l, std::size_t extra);
    // Appends one row (after reserve: cannot fail).
    void append(std::size_t l, const uint8_t* codes, int64_t id, uint32_t seq);
    // Removes the rows of list l whose keep[r] is false, keeping the order of the others. Never allocates.
    std::size_t compact(std::size_t l, const std::vector<char>& keep, bool release_empty = true);  // as InvertedLists
    void recount();
    void clear();

private:
    struct List {
        std::vector<uint8_t> codes;
        std::vector<int64_t> ids;
        std::vector<uint32_t> seq;
    };
    void put(List& L, std::size_t r, const uint8_t* codes);
    std::size_t m_ = 0;
    std::size_t total_ = 0;
    std::vector<List> lists_;
};

}  // namespace adanns
