// Rerank store: full-precision vectors (row-major, row stride dim) for the exact rerank of
// indices whose lists hold compressed codes (IVF-PQ, PQ) and of the graph index. Row r is the
// r-th vector added (the "row" / seq number that each list entry carries, so a (list, row)
// label reaches its full vector through the list's seq). Rows [0, mapped_rows) may be
// memory-mapped read-only from an index file (load of keep_full="mmap", GraphIndex
// load(mmap=True)); the rows after them (the tail) are held in RAM, or, after spill_to(dir),
// in an unlinked temporary file in dir written through a shared mapping (keep_full="mmap"
// before the first save: the vectors never sit in anonymous memory).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/huge_pages.h"
#include "storage/file_map.h"

namespace adanns {

class RerankStore {
public:
    RerankStore() = default;
    explicit RerankStore(std::size_t dim) : dim_(dim) {}

    std::size_t dim() const { return dim_; }
    std::size_t rows() const { return nmap_ + ntail_; }
    // True when rows are served from a file mapping (the index file or the spill file).
    bool mapped() const { return nmap_ > 0 || (spill_ && ntail_ > 0); }
    const float* row(std::size_t r) const { return r < nmap_ ? map_ + r * dim_ : tail_ + (r - nmap_) * dim_; }
    // Every row at one address (row r at data() + r * dim), when the rows lie in one part
    // (all mapped from the index file, or all in the tail); null when they are split.
    const float* data() const { return nmap_ == 0 ? tail_ : (ntail_ == 0 ? map_ : nullptr); }

    // Room for `extra` more tail rows (may throw; call before mutating anything).
    void reserve(std::size_t extra);
    // Appends n rows (after reserve(n): cannot fail).
    void append(const float* x, std::size_t n);
    // Replaces the content by a RAM copy of n rows.
    void assign(const float* x, std::size_t n);
    // Replaces the content by n rows memory-mapped read-only from `path` at byte `offset`.
    void map_file(const std::string& path, std::size_t offset, std::size_t n);
    // From now on the tail lives in a temporary file in `dir` (rows already in RAM move there).
    void spill_to(const std::string& dir);
    void clear();

    // In-place edits (graph index): the rows as one RAM block of rows() rows; mapped rows are
    // copied into RAM first (the store is then no longer mapped).
    float* mutable_data();
    // Keeps the first n rows (n <= rows()) or adds zero rows; in RAM, as mutable_data().
    void resize(std::size_t n);

private:
    void to_ram();
    void sync_tail() { tail_ = spill_ ? reinterpret_cast<const float*>(spill_->data()) : ram_.data(); }

    std::size_t dim_ = 0;
    std::unique_ptr<FileMap> mapping_;
    const float* map_ = nullptr;
    std::size_t nmap_ = 0;
    // the tail in RAM (ntail_ rows), unless spilled; on huge pages where the system allows (the
    // rerank reads rows at random: one TLB miss per 2 MiB, not per row)
    using Rows = std::vector<float, HugePageAllocator<float>>;
    Rows ram_;
    std::unique_ptr<SpillFile> spill_;   // the tail in a temporary file (ntail_ rows)
    std::string spill_dir_;
    std::size_t ntail_ = 0;
    const float* tail_ = nullptr;
};

}  // namespace adanns
