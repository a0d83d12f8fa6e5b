// pybind11 binding of the CUDA backend (csrc/cuda/), compiled only in a CUDA build
// (cmake/cuda.cmake) and registered by init_cuda() from the module definition.
// Array shapes are checked here; values and user-facing messages are adanns/gpu.py's.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/gpu_ivf.h"
#include "python/py_utils.h"

namespace py = pybind11;

namespace {

using adanns::pyutil::def_list_index_properties;
using adanns::pyutil::export_lists_tuple;
using adanns::pyutil::FArray;
using adanns::pyutil::IArray;
using adanns::pyutil::to_numpy;

void check_shape(const py::array& a, std::initializer_list<std::size_t> shape, const char* name) {
    bool ok = static_cast<std::size_t>(a.ndim()) == shape.size();
    std::size_t i = 0;
    for (std::size_t s : shape) ok = ok && static_cast<std::size_t>(a.shape(i++)) == s;
    if (!ok) throw std::invalid_argument(std::string(name) + " has the wrong shape");
}

// The settings of one GPU search (GpuSearchParams fields in declaration order; 0: the default).
adanns::gpu::GpuSearchParams search_params(std::size_t k, std::size_t nprobe, std::size_t scan_dim,
                                           std::size_t rerank_k, std::size_t rerank_dim, std::size_t probe_dim) {
    return adanns::gpu::GpuSearchParams{k, nprobe, scan_dim, rerank_k, rerank_dim, probe_dim};
}

}  // namespace

void init_cuda(py::module_& m) {
    using adanns::gpu::GpuIVF;
    using adanns::gpu::GpuSearchParams;
    py::register_exception<adanns::gpu::OutOfMemory>(m, "GpuOutOfMemory", PyExc_MemoryError);
    m.attr("cuda_built") = true;
    m.attr("gpu_max_k") = adanns::gpu::kMaxK;
    m.def("cuda_device_count", &adanns::gpu::device_count, "CUDA devices usable by this process (0: none / no driver).");
    m.def("cuda_device_description", &adanns::gpu::device_description, py::arg("device"));

    def_list_index_properties(py::class_<GpuIVF>(m, "GpuIVF"))
        .def(py::init([](int device, std::size_t dim, std::size_t nlist, std::size_t coarse_dim, int metric,
                         FArray centroids, IArray sizes, IArray ids, FArray vectors, std::size_t memory_limit) {
                 check_shape(centroids, {nlist, coarse_dim}, "centroids");
                 check_shape(sizes, {nlist}, "list_sizes");
                 const std::size_t n = static_cast<std::size_t>(ids.size());
                 check_shape(ids, {n}, "ids");
                 check_shape(vectors, {n, dim}, "vectors");
                 std::size_t total = 0;
                 for (std::size_t l = 0; l < nlist; ++l) {
                     if (sizes.data()[l] < 0) throw std::invalid_argument("negative list size");
                     total += static_cast<std::size_t>(sizes.data()[l]);
                 }
                 if (total != n) throw std::invalid_argument("list sizes do not add up to the number of ids");
                 py::gil_scoped_release nogil;
                 return std::make_unique<GpuIVF>(device, dim, nlist, coarse_dim, metric, centroids.data(), sizes.data(),
                                                 ids.data(), vectors.data(), memory_limit);
             }),
             py::arg("device"), py::arg("dim"), py::arg("nlist"), py::arg("coarse_dim"), py::arg("metric"),
             py::arg("centroids"), py::arg("list_sizes"), py::arg("ids"), py::arg("vectors"), py::arg("memory_limit"))
        .def_property_readonly("device", &GpuIVF::device)
        .def_property_readonly("index_bytes", &GpuIVF::index_bytes)
        .def_property_readonly("memory_limit", &GpuIVF::memory_limit)
        .def(
            "batch_size",
            [](const GpuIVF& self, std::size_t k, std::size_t nprobe, std::size_t rerank_k, std::size_t probe_dim) {
                return self.batch_size(search_params(k, nprobe, 0, rerank_k, 0, probe_dim));
            },
            py::arg("k"), py::arg("nprobe"), py::arg("rerank_k"), py::arg("probe_dim"))
        .def(
            "search",
            [](const GpuIVF& self, FArray xq, std::size_t k, std::size_t nprobe, std::size_t scan_dim,
               std::size_t rerank_k, std::size_t rerank_dim, std::size_t probe_dim) {
                if (xq.ndim() != 2 || static_cast<std::size_t>(xq.shape(1)) != self.dim())
                    throw std::invalid_argument("queries must be 2-D with dim columns");
                const std::size_t nq = xq.shape(0);
                const GpuSearchParams p = search_params(k, nprobe, scan_dim, rerank_k, rerank_dim, probe_dim);
                std::vector<float> D(nq * k);
                std::vector<int64_t> I(nq * k);
                {
                    py::gil_scoped_release nogil;
                    self.search(xq.data(), nq, p, D.data(), I.data());
                }
                return py::make_tuple(to_numpy(std::move(D), {py::ssize_t(nq), py::ssize_t(k)}),
                                      to_numpy(std::move(I), {py::ssize_t(nq), py::ssize_t(k)}));
            },
            py::arg("xq"), py::arg("k"), py::arg("nprobe"), py::arg("scan_dim"), py::arg("rerank_k"),
            py::arg("rerank_dim"), py::arg("probe_dim"))
        .def("centroids",
             [](const GpuIVF& self) {
                 std::vector<float> c;
                 {
                     py::gil_scoped_release nogil;
                     c = self.centroids();
                 }
                 return to_numpy(std::move(c), {py::ssize_t(self.nlist()), py::ssize_t(self.coarse_dim())});
             })
        .def("export_lists", [](const GpuIVF& self) { return export_lists_tuple(self); });
}
