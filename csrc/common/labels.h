// A candidate's label inside a search: (inverted list, row within the list) packed in one int64
// (list in the high 32 bits, row in the low 32). Lists hold fewer than 2^32 rows (checked at add).
// Labels order candidates like (list, row), which is what ties are broken by.
#pragma once
#include <cstddef>
#include <cstdint>

namespace adanns {

inline int64_t make_label(std::size_t list, std::size_t row) {
    return static_cast<int64_t>((static_cast<uint64_t>(list) << 32) | static_cast<uint64_t>(row));
}
inline std::size_t label_list(int64_t lab) { return static_cast<std::size_t>(static_cast<uint64_t>(lab) >> 32); }
inline std::size_t label_row(int64_t lab) { return static_cast<std::size_t>(static_cast<uint64_t>(lab) & 0xffffffffull); }

}  // namespace adanns
