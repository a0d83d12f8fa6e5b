// pybind11 bindings of the IVF-Flat / Flat core (IVFCore) and of k-means. Shapes are checked
// here; values and user-facing messages are checked by adanns/index.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "ivf/ivf.h"
#include "kernels/kernels.h"
#include "quant/kmeans.h"
#include "python/py_utils.h"

namespace py = pybind11;
using namespace adanns;
using namespace adanns::pyutil;

void bind_ivf(py::module_& m) {
    m.def(
        "kmeans",
        [](FArray x, std::size_t k, int niter, uint64_t seed, bool spherical, bool kmeanspp,
           std::size_t max_points_per_centroid) {
            if (x.ndim() != 2) throw std::invalid_argument("x must be 2-D");
            const std::size_t n = x.shape(0), d = x.shape(1);
            const KMeansParams p{k, niter, seed, spherical, kmeanspp, max_points_per_centroid};
            std::vector<float> c;
            {
                const pyutil::Interruptible nogil;
                c = kmeans_train(x.data(), n, d, p);
            }
            return to_numpy(std::move(c), {py::ssize_t(k), py::ssize_t(d)});
        },
        py::arg("x"), py::arg("k"), py::arg("niter") = 20, py::arg("seed") = 1234,
        py::arg("spherical") = false, py::arg("kmeanspp") = false, py::arg("max_points_per_centroid") = 256);

    def_list_index_properties(py::class_<IVFCore>(m, "IVFCore"))
        .def(py::init<std::size_t, std::size_t, std::size_t, int>(), py::arg("dim"), py::arg("nlist"),
             py::arg("coarse_dim"), py::arg("metric"))
        .def_property_readonly("is_trained", &IVFCore::is_trained)
        .def_property_readonly("next_id", &IVFCore::next_id)
        .def(
            "train",
            [](IVFCore& self, FArray x, int niter, uint64_t seed, bool kmeanspp, std::size_t mppc) {
                check_2d(x, self.dim(), "x");
                const KMeansParams p{0, niter, seed, false, kmeanspp, mppc};  // k and spherical: set by the core
                const pyutil::Interruptible nogil;
                self.train(x.data(), x.shape(0), p);
            },
            py::arg("x"), py::arg("niter") = 20, py::arg("seed") = 1234, py::arg("kmeanspp") = false,
            py::arg("max_points_per_centroid") = 256)
        .def(
            "set_centroids",
            [](IVFCore& self, FArray c) {
                check_2d(c, self.coarse_dim(), "centroids");
                if (static_cast<std::size_t>(c.shape(0)) != self.nlist())
                    throw std::invalid_argument("centroids must have nlist rows");
                self.set_centroids(c.data());
            },
            py::arg("centroids"))
        .def(
            "add",
            [](IVFCore& self, FArray x, std::optional<IArray> ids) {
                check_2d(x, self.dim(), "x");
                const std::size_t n = x.shape(0);
                if (ids) check_1d(*ids, n, "ids");
                const int64_t* idp = ids ? ids->data() : nullptr;
                const pyutil::Interruptible nogil;
                self.add(x.data(), n, idp);
            },
            py::arg("x"), py::arg("ids") = py::none())
        .def("raise_next_id", &IVFCore::raise_next_id, py::arg("next_id"))
        .def(
            "prepare",
            [](const IVFCore& self, FArray x, py::array_t<float> rows, py::array_t<int64_t> lists) {
                check_2d(x, self.dim(), "x");
                const std::size_t n = x.shape(0);
                check_2d(rows, self.dim(), "rows");
                check_1d(lists, n, "lists");
                if (static_cast<std::size_t>(rows.shape(0)) != n || !(rows.flags() & py::array::c_style) ||
                    !(lists.flags() & py::array::c_style))
                    throw std::invalid_argument("rows and lists must be C-contiguous with one row per vector");
                float* r = rows.mutable_data();
                int64_t* l = lists.mutable_data();
                const pyutil::Interruptible nogil;
                self.prepare(x.data(), n, r, l);
            },
            py::arg("x"), py::arg("rows"), py::arg("lists"),
            "Lists of the rows of x (and, for cosine, the normalised rows written to rows); no change.")
        .def(
            "add_preassigned",
            [](IVFCore& self, FArray x, IArray ids, IArray lists) {
                check_2d(x, self.dim(), "x");
                const std::size_t n = x.shape(0);
                check_1d(ids, n, "ids");
                check_1d(lists, n, "lists");
                py::gil_scoped_release nogil;
                self.add_preassigned(x.data(), n, ids.data(), lists.data());
            },
            py::arg("x"), py::arg("ids"), py::arg("lists"))
        .def("reset", &IVFCore::reset)
        .def(
            "map_lists",
            [](IVFCore& self, const std::string& path, std::size_t offset, IArray sizes, IArray ids) {
                check_1d(sizes, self.nlist(), "sizes");
                if (ids.ndim() != 1) throw std::invalid_argument("ids must be 1-D");
                std::size_t total = 0;
                for (py::ssize_t l = 0; l < sizes.shape(0); ++l) {
                    if (sizes.data()[l] < 0) throw std::invalid_argument("negative list size");
                    total += static_cast<std::size_t>(sizes.data()[l]);
                }
                if (total != static_cast<std::size_t>(ids.shape(0)))
                    throw std::invalid_argument("list sizes do not add up to the number of ids");
                py::gil_scoped_release nogil;
                self.map_lists(path, offset, sizes.data(), ids.data());
            },
            py::arg("path"), py::arg("offset"), py::arg("sizes"), py::arg("ids"))
        .def_property_readonly("mapped_lists", &IVFCore::mapped_lists)
        .def(
            "remove_ids",
            [](IVFCore& self, IArray ids) {
                if (ids.ndim() != 1) throw std::invalid_argument("ids must be 1-D");
                py::gil_scoped_release nogil;
                return self.remove_ids(ids.data(), static_cast<std::size_t>(ids.shape(0)));
            },
            py::arg("ids"))
        .def(
            "update",
            [](IVFCore& self, FArray x, IArray ids) {
                check_2d(x, self.dim(), "x");
                const std::size_t n = x.shape(0);
                check_1d(ids, n, "ids");
                const pyutil::Interruptible nogil;
                return self.update(x.data(), n, ids.data());
            },
            py::arg("x"), py::arg("ids"))
        .def(
            "search",
            [](const IVFCore& self, FArray xq, std::size_t k, std::size_t nprobe, std::size_t scan_dim,
               std::size_t rerank_k, std::size_t rerank_dim, std::size_t probe_dim, bool with_stats,
               std::optional<UArray> filter_bits, std::optional<IArray> filter_ids, bool int8_scan) -> py::object {
                const SearchParams p{k, nprobe, scan_dim, rerank_k, rerank_dim, probe_dim, int8_scan};
                return batch_search_binding(xq, self.dim(), k, with_stats, filter_bits, filter_ids,
                                            [&](const float* q, std::size_t nq, float* D, int64_t* I, SearchStats* st,
                                                const RowFilter* f) { self.search(q, nq, p, D, I, st, f); });
            },
            py::arg("xq"), py::arg("k"), py::arg("nprobe"), py::arg("scan_dim"), py::arg("rerank_k"),
            py::arg("rerank_dim"), py::arg("probe_dim") = 0, py::arg("with_stats") = false,
            py::arg("filter_bits") = py::none(), py::arg("filter_ids") = py::none(), py::arg("int8_scan") = false)
        .def(
            "probe",
            [](const IVFCore& self, FArray xq, std::size_t nprobe, std::size_t probe_dim) {
                check_2d(xq, self.dim(), "queries");
                const std::size_t nq = xq.shape(0);
                std::vector<int64_t> out(nq * nprobe);
                {
                    const pyutil::Interruptible nogil;
                    self.probe(xq.data(), nq, nprobe, probe_dim, out.data());
                }
                return to_numpy(std::move(out), {py::ssize_t(nq), py::ssize_t(nprobe)});
            },
            py::arg("xq"), py::arg("nprobe"), py::arg("probe_dim") = 0)
        .def("centroids",
             [](const IVFCore& self) {
                 return to_numpy(self.centroids(), {py::ssize_t(self.nlist()), py::ssize_t(self.coarse_dim())});
             })
        .def("list_sizes",
             [](const IVFCore& self) { return to_numpy(self.list_sizes(), {py::ssize_t(self.nlist())}); })
        .def("export_lists", [](const IVFCore& self) { return export_lists_tuple(self); });
}
