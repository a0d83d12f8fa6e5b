// Files behind the storages that serve rows from disk (InvertedLists, RerankStore):
// FileMap, a read-only, private memory mapping of a byte range of a file (RAII), and
// SpillFile, an unlinked temporary file that grows and is written through a shared mapping.
#pragma once
#include <cstddef>
#include <string>

namespace adanns {

class FileMap {
public:
    // Maps [offset, offset + bytes) of `path` (bytes > 0); throws std::runtime_error /
    // std::invalid_argument when the file cannot be opened or is too short.
    FileMap(const std::string& path, std::size_t offset, std::size_t bytes);
    ~FileMap();
    FileMap(const FileMap&) = delete;
    FileMap& operator=(const FileMap&) = delete;

    const char* data() const { return data_; }
    std::size_t size() const { return bytes_; }

private:
    void* addr_ = nullptr;
    std::size_t len_ = 0;
    const char* data_ = nullptr;
    std::size_t bytes_ = 0;
};

// A temporary file in `dir`, unlinked as soon as it is created (it disappears with the process
// or with this object), mapped shared read-write: rows written into data() go to the page cache
// and the file, not to anonymous memory, so the kernel can write them back and drop them.
class SpillFile {
public:
    explicit SpillFile(const std::string& dir);  // throws std::runtime_error
    ~SpillFile();
    SpillFile(const SpillFile&) = delete;
    SpillFile& operator=(const SpillFile&) = delete;

    // At least `bytes` of allocated file (posix_fallocate: later writes cannot hit a full disk)
    // and mapping; may throw, leaves the old contents and mapping intact on failure.
    void reserve(std::size_t bytes);
    char* data() const { return static_cast<char*>(addr_); }
    std::size_t capacity() const { return cap_; }

private:
    int fd_ = -1;
    void* addr_ = nullptr;
    std::size_t cap_ = 0;
};

}  // namespace adanns
