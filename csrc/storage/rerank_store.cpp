#include "storage/rerank_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace adanns {

void RerankStore::reserve(std::size_t extra) {
    const std::size_t need = ram_.size() + extra * dim_;
    if (ram_.capacity() < need) ram_.reserve(std::max(need, 2 * ram_.capacity()));
}

void RerankStore::append(const float* x, std::size_t n) {
    reserve(n);
    ram_.insert(ram_.end(), x, x + n * dim_);
}

void RerankStore::assign(const float* x, std::size_t n) {
    std::vector<float> v(x, x + n * dim_);
    ram_.swap(v);
    mapping_.reset();
    map_ = nullptr;
    nmap_ = 0;
}

void RerankStore::map_file(const std::string& path, std::size_t offset, std::size_t n) {
    const std::size_t bytes = n * dim_ * sizeof(float);
    if (bytes == 0) {
        clear();
        return;
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path + " to map its full vectors");
    struct stat st;
    if (::fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < offset + bytes) {
        ::close(fd);
        throw std::invalid_argument("the file is too short for its full-vector section");
    }
    if (offset % alignof(float) != 0) {  // cannot map as floats: read a RAM copy instead
        std::vector<float> v(n * dim_);
        std::size_t done = 0;
        while (done < bytes) {
            const ssize_t got = ::pread(fd, reinterpret_cast<char*>(v.data()) + done, bytes - done,
                                        static_cast<off_t>(offset + done));
            if (got <= 0) {
                ::close(fd);
                throw std::runtime_error("cannot read the full vectors of " + path);
            }
            done += static_cast<std::size_t>(got);
        }
        ::close(fd);
        ram_.swap(v);
        mapping_.reset();
        map_ = nullptr;
        nmap_ = 0;
        return;
    }
    ::close(fd);
    auto m = std::make_unique<FileMap>(path, offset, bytes);
    map_ = reinterpret_cast<const float*>(m->data());
    mapping_ = std::move(m);
    nmap_ = n;
    ram_.clear();
}

void RerankStore::clear() {
    mapping_.reset();
    map_ = nullptr;
    nmap_ = 0;
    std::vector<float>().swap(ram_);
}

}  // namespace adanns
