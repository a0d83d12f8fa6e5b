// Inverting a batch's probe assignment: for each list, the queries of the batch that probe it.
// Both IVF scans (float blocks, PQ codes) walk lists in order and scan every member query while
// the list is in cache.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace adanns {

struct ListGroups {
    std::vector<std::size_t> start;  // nlist + 1 offsets into members
    std::vector<uint32_t> members;   // query numbers (0..nq-1), grouped by list, ascending within a list
};

// probes: nq x nprobe list numbers (each < nlist).
inline ListGroups group_by_list(const int64_t* probes, std::size_t nq, std::size_t nprobe, std::size_t nlist) {
    ListGroups g;
    g.start.assign(nlist + 1, 0);
    for (std::size_t j = 0; j < nq * nprobe; ++j) ++g.start[static_cast<std::size_t>(probes[j]) + 1];
    for (std::size_t l = 0; l < nlist; ++l) g.start[l + 1] += g.start[l];
    g.members.resize(nq * nprobe);
    std::vector<std::size_t> pos(g.start.begin(), g.start.end() - 1);
    for (std::size_t j = 0; j < nq; ++j)
        for (std::size_t t = 0; t < nprobe; ++t)
            g.members[pos[static_cast<std::size_t>(probes[j * nprobe + t])]++] = static_cast<uint32_t>(j);
    return g;
}

}  // namespace adanns
