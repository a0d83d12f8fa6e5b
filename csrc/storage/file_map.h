// A read-only, private memory mapping of a byte range of a file (RAII). Used by the storages
// that serve rows from an index file (InvertedLists, RerankStore).
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

}  // namespace adanns
