// Removal by id, shared by every list storage (InvertedLists, CodeLists): any class with
// nlist(), list_size(l), ids(l), compact(l, keep) and recount().
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/huge_pages.h"
#include "common/parallel.h"

namespace adanns {

// Removes every row whose id is in ids[0..n), keeping the order of the others; returns the
// number removed. All allocations happen before the first row moves, so a failed allocation
// leaves the lists unchanged. Lists are compacted in parallel (each by one thread). A list left
// empty frees its arrays, but for the lists l with reserved[l] != 0 (an update's removal: the
// capacity reserved for its adds is kept, so that they cannot fail).
template <class Lists>
std::size_t remove_ids_from(Lists& lists, const int64_t* ids, std::size_t n,
                            const std::vector<std::size_t>* reserved = nullptr) {
    if (n == 0 || lists.total() == 0) return 0;
    const std::size_t nlist = lists.nlist();
    std::vector<int64_t> sorted(ids, ids + n);
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::size_t> removed(nlist, 0);
    std::size_t maxsz = 0;
    for (std::size_t l = 0; l < nlist; ++l) maxsz = std::max(maxsz, lists.list_size(l));
    const std::size_t nthreads = static_cast<std::size_t>(max_threads());
    std::vector<std::vector<char>> keep(nthreads, std::vector<char>(maxsz));
    const NoCancel whole;  // rows move from here on
    parallel_for_chunks(nlist, 16, [&](std::size_t lb, std::size_t le) {
        std::vector<char>& k = keep[static_cast<std::size_t>(thread_id())];
        for (std::size_t l = lb; l < le; ++l) {
            const std::size_t sz = lists.list_size(l);
            const int64_t* lid = lists.ids(l);
            bool any = false;
            for (std::size_t r = 0; r < sz; ++r) {
                k[r] = !std::binary_search(sorted.begin(), sorted.end(), lid[r]);
                any |= !k[r];
            }
            if (any) removed[l] = lists.compact(l, k, !reserved || (*reserved)[l] == 0);
        }
    });
    lists.recount();
    std::size_t total = 0;
    bool emptied = false;  // a list that lost rows and has none left freed its arrays (compact)
    for (std::size_t l = 0; l < nlist; ++l) {
        total += removed[l];
        emptied |= removed[l] > 0 && lists.list_size(l) == 0;
    }
    if (emptied) release_free_memory();
    return total;
}

}  // namespace adanns
