// Filtered search: the set of user ids a search may return. Checked by the batch driver
// (ivf/batch_driver.h) where a scored row is pushed into a shortlist, so filtered-out rows never
// take a place in it; a search without a filter (BatchSpec::filter == nullptr) skips the check.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace adanns {

struct RowFilter {
    // Bitmap form: id is allowed iff 0 <= id < nbits and bit id of `bits` is set (bit i of word
    // i / 64 at position i % 64, little-endian bit order).
    const uint64_t* bits = nullptr;
    std::size_t nbits = 0;
    // Allow-list form (used when bits == nullptr): the allowed ids, sorted ascending.
    const int64_t* sorted = nullptr;
    std::size_t nsorted = 0;

    bool allows(int64_t id) const {
        if (bits) {
            const uint64_t u = static_cast<uint64_t>(id);
            return u < nbits && ((bits[u >> 6] >> (u & 63)) & 1u);
        }
        return std::binary_search(sorted, sorted + nsorted, id);
    }
};

}  // namespace adanns
