#include "storage/rerank_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace adanns {

void RerankStore::reserve(std::size_t extra) {
    const std::size_t need = (ntail_ + extra) * dim_;
    if (!spill_dir_.empty()) {
        if (!spill_) {
            auto f = std::make_unique<SpillFile>(spill_dir_);
            f->reserve(std::max<std::size_t>(need, 1) * sizeof(float));
            if (ntail_) std::memcpy(f->data(), ram_.data(), ntail_ * dim_ * sizeof(float));
            spill_ = std::move(f);
            Rows().swap(ram_);
        } else {
            spill_->reserve(need * sizeof(float));
        }
    } else if (ram_.capacity() < need) {
        ram_.reserve(std::max(need, 2 * ram_.capacity()));
    }
    sync_tail();
}

void RerankStore::append(const float* x, std::size_t n) {
    reserve(n);
    if (spill_)
        std::memcpy(spill_->data() + ntail_ * dim_ * sizeof(float), x, n * dim_ * sizeof(float));
    else
        ram_.insert(ram_.end(), x, x + n * dim_);
    ntail_ += n;
    sync_tail();
}

void RerankStore::assign(const float* x, std::size_t n) {
    Rows v(x, x + n * dim_);
    clear();
    ram_.swap(v);
    ntail_ = n;
    sync_tail();
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
        Rows v(n * dim_);
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
        clear();
        ram_.swap(v);
        ntail_ = n;
        sync_tail();
        return;
    }
    ::close(fd);
    auto m = std::make_unique<FileMap>(path, offset, bytes);
    clear();
    map_ = reinterpret_cast<const float*>(m->data());
    mapping_ = std::move(m);
    nmap_ = n;
}

void RerankStore::spill_to(const std::string& dir) {
    if (dir == spill_dir_) return;
    if (spill_) throw std::logic_error("the rerank store already spills to another directory");
    spill_dir_ = dir;
}

void RerankStore::clear() {
    mapping_.reset();
    map_ = nullptr;
    nmap_ = 0;
    Rows().swap(ram_);
    spill_.reset();
    ntail_ = 0;
    sync_tail();
}

void RerankStore::to_ram() {
    if (nmap_ == 0 && !spill_) return;
    Rows v(rows() * dim_);
    for (std::size_t r = 0, n = rows(); r < n; ++r) std::memcpy(v.data() + r * dim_, row(r), dim_ * sizeof(float));
    const std::size_t n = rows();
    clear();
    spill_dir_.clear();
    ram_.swap(v);
    ntail_ = n;
    sync_tail();
}

float* RerankStore::mutable_data() {
    to_ram();
    return ram_.data();
}

void RerankStore::resize(std::size_t n) {
    to_ram();
    ram_.resize(n * dim_, 0.f);
    ntail_ = n;
    sync_tail();
}

}  // namespace adanns
