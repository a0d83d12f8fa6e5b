// Rerank store: full-precision vectors (row-major, row stride dim) for the exact rerank of
// indices whose lists hold compressed codes (IVF-PQ, PQ). Row r is the r-th vector added (the
// "row" / seq number that each list entry carries, so a (list, row) label reaches its full
// vector through the list's seq). Rows [0, mapped_rows) may be memory-mapped read-only from an
// index file (keep_full="mmap"), the rows after them are held in RAM.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/file_map.h"

namespace adanns {

class RerankStore {
public:
    RerankStore() = default;
    explicit RerankStore(std::size_t dim) : dim_(dim) {}

    std::size_t dim() const { return dim_; }
    std::size_t rows() const { return nmap_ + ram_.size() / (dim_ ? dim_ : 1); }
    bool mapped() const { return nmap_ > 0; }
    const float* row(std::size_t r) const { return r < nmap_ ? map_ + r * dim_ : ram_.data() + (r - nmap_) * dim_; }

    // Room for `extra` more RAM rows (may throw; call before mutating anything).
    void reserve(std::size_t extra);
    // Appends n rows (after reserve(n): cannot fail).
    void append(const float* x, std::size_t n);
    // Replaces the content by a RAM copy of n rows.
    void assign(const float* x, std::size_t n);
    // Replaces the content by n rows memory-mapped read-only from `path` at byte `offset`.
    void map_file(const std::string& path, std::size_t offset, std::size_t n);
    void clear();

private:
    std::size_t dim_ = 0;
    std::unique_ptr<FileMap> mapping_;
    const float* map_ = nullptr;
    std::size_t nmap_ = 0;
    std::vector<float> ram_;
};

}  // namespace adanns
