// Walking the lists of a list storage in order, shared by the list sizes and the exports of
// every IVF core: any class with nlist() and list_size(l) (InvertedLists, CodeLists).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace adanns {

// The number of rows of each list.
template <class Lists>
std::vector<int64_t> list_sizes_of(const Lists& lists) {
    std::vector<int64_t> sizes(lists.nlist());
    for (std::size_t l = 0; l < sizes.size(); ++l) sizes[l] = static_cast<int64_t>(lists.list_size(l));
    return sizes;
}

// f(l, n, first) for each list l in order: its n rows are rows first..first+n-1 of the lists
// laid end to end (the order of an export).
template <class Lists, class F>
void for_each_list(const Lists& lists, F&& f) {
    std::size_t first = 0;
    for (std::size_t l = 0; l < lists.nlist(); ++l) {
        const std::size_t n = lists.list_size(l);
        f(l, n, first);
        first += n;
    }
}

}  // namespace adanns
