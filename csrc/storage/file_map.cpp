#include "storage/file_map.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace adanns {

FileMap::FileMap(const std::string& path, std::size_t offset, std::size_t bytes) : bytes_(bytes) {
    if (bytes == 0) throw std::invalid_argument("cannot map an empty range");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path + " to map it");
    struct stat st;
    if (::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < offset + bytes) {
        ::close(fd);
        throw std::invalid_argument("the file " + path + " is too short for the section to map");
    }
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t base = offset - offset % page;
    len_ = offset - base + bytes;
    void* addr = ::mmap(nullptr, len_, PROT_READ, MAP_PRIVATE, fd, static_cast<off_t>(base));
    ::close(fd);
    if (addr == MAP_FAILED) throw std::runtime_error("cannot map " + path);
    addr_ = addr;
    data_ = static_cast<const char*>(addr) + (offset - base);
}

FileMap::~FileMap() {
    if (addr_) ::munmap(addr_, len_);
}

}  // namespace adanns

namespace adanns {

SpillFile::SpillFile(const std::string& dir) {
    std::string tmpl = (dir.empty() ? std::string(".") : dir) + "/adanns-rows-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    fd_ = ::mkostemp(buf.data(), O_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error("cannot create a temporary file in " + dir + " for the full vectors");
    ::unlink(buf.data());
}

SpillFile::~SpillFile() {
    if (addr_) ::munmap(addr_, cap_);
    if (fd_ >= 0) ::close(fd_);
}

void SpillFile::reserve(std::size_t bytes) {
    if (bytes <= cap_) return;
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::size_t cap = std::max({bytes, 2 * cap_, std::size_t(1) << 20});
    cap = (cap + page - 1) / page * page;
    int err = ::posix_fallocate(fd_, 0, static_cast<off_t>(cap));
    if (err == EOPNOTSUPP || err == EINVAL) err = ::ftruncate(fd_, static_cast<off_t>(cap)) == 0 ? 0 : errno;
    if (err != 0) throw std::runtime_error("cannot grow the temporary file of the full vectors (disk full?)");
    void* addr = ::mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (addr == MAP_FAILED) throw std::runtime_error("cannot map the temporary file of the full vectors");
    if (addr_) ::munmap(addr_, cap_);
    addr_ = addr;
    cap_ = cap;
}

}  // namespace adanns
