#include "storage/file_map.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

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
