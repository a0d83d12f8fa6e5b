// Per-stage cost of one search call: thread time per stage (summed over the threads that ran
// it) and work counters. Filled by the batch driver and the coarse stage when the caller asks.
#pragma once
#include <chrono>
#include <cstddef>

namespace adanns {

struct SearchStats {
    double coarse_s = 0, scan_s = 0, rerank_s = 0, output_s = 0;
    std::size_t rows_scanned = 0;         // (query, row) pairs scored by the scan stage
    std::size_t candidates_reranked = 0;  // (query, row) pairs scored by the rerank stage
};

using Clock = std::chrono::steady_clock;
inline double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

}  // namespace adanns
