// pybind11 bindings of the core. Every array is shape-checked here, at the boundary;
// every long call releases the GIL. The Python package validates values (NaN, ranges)
// and gives the user-facing error messages; these checks are the last line of defence.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "distances.h"
#include "ivf.h"
#include "kmeans.h"
#include "parallel.h"
#include "py_utils.h"

namespace py = pybind11;
void bind_pq(py::module_& m);  // bindings_pq.cpp
void init_graph(py::module_& m);  // python/graph.cpp
using namespace adanns;

using namespace adanns::pyutil;

PYBIND11_MODULE(_core, m) {
    m.doc() = "adanns C++ core";
    m.def("simd_level", []() { return std::string(kernels().name); },
          "Kernel set chosen at run time: 'avx2' or 'scalar'.");
    m.def("cpu_has_avx2", &cpu_has_avx2_fma);
    m.def("max_threads", &max_threads);

    m.def(
        "scan",
        [](int kind, FArray q, FArray X, std::size_t w, const std::string& impl) {
            if (kind < kScanL2 || kind > kScanIPNorm) throw std::invalid_argument("bad kind");
            if (q.ndim() != 1 || X.ndim() != 2) throw std::invalid_argument("q must be 1-D, X 2-D");
            const std::size_t n = X.shape(0), stride = X.shape(1);
            if (w > stride || w > static_cast<std::size_t>(q.shape(0))) throw std::invalid_argument("w too large");
            ScanFn fn = &scan_scalar;
            if (impl == "avx2") {
#if defined(ADANNS_HAVE_AVX2_TU)
                if (!cpu_has_avx2_fma()) throw std::runtime_error("this CPU has no AVX2/FMA");
                fn = &scan_avx2;
#else
                throw std::runtime_error("built without the AVX2 kernels");
#endif
            } else if (impl != "scalar") {
                throw std::invalid_argument("impl must be 'scalar' or 'avx2'");
            }
            std::vector<float> acc(n, 0.f), accn(n, 0.f);
            fn(kind, q.data(), X.data(), n, stride, w, acc.data(), accn.data());
            return py::make_tuple(to_numpy(std::move(acc), {py::ssize_t(n)}),
                                  to_numpy(std::move(accn), {py::ssize_t(n)}));
        },
        py::arg("kind"), py::arg("q"), py::arg("X"), py::arg("w"), py::arg("impl"),
        "Test hook: run one scan kernel implementation.");

    m.def(
        "gemm",
        [](FArray X, FArray C, std::optional<FArray> bias, float alpha, const std::string& impl,
           bool argmin) -> py::tuple {
            if (X.ndim() != 2 || C.ndim() != 2) throw std::invalid_argument("X and C must be 2-D");
            const std::size_t n = X.shape(0), d = X.shape(1), k = C.shape(0);
            if (static_cast<std::size_t>(C.shape(1)) != d) throw std::invalid_argument("X and C must have the same columns");
            if (bias) check_1d(*bias, k, "bias");
            GemmFn gemm = &gemm_scalar;
            GemmArgminFn gargmin = &gemm_argmin_scalar;
            if (impl == "avx2") {
#if defined(ADANNS_HAVE_AVX2_TU)
                if (!cpu_has_avx2_fma()) throw std::runtime_error("this CPU has no AVX2/FMA");
                gemm = &gemm_avx2;
                gargmin = &gemm_argmin_avx2;
#else
                throw std::runtime_error("built without the AVX2 kernels");
#endif
            } else if (impl != "scalar") {
                throw std::invalid_argument("impl must be 'scalar' or 'avx2'");
            }
            std::vector<float> packed(packed_size(k, d));
            pack_panels(C.data(), k, d, d, packed.data());
            const float* b = bias ? bias->data() : nullptr;
            if (argmin) {
                std::vector<int64_t> best(n);
                std::vector<float> bd(n);
                gargmin(X.data(), n, d, packed.data(), k, d, b, alpha, best.data(), bd.data());
                return py::tuple(py::make_tuple(to_numpy(std::move(best), {py::ssize_t(n)}),
                                                to_numpy(std::move(bd), {py::ssize_t(n)})));
            }
            std::vector<float> out(n * k);
            gemm(X.data(), n, d, packed.data(), k, d, b, alpha, out.data(), k);
            return py::tuple(py::make_tuple(to_numpy(std::move(out), {py::ssize_t(n), py::ssize_t(k)})));
        },
        py::arg("X"), py::arg("C"), py::arg("bias"), py::arg("alpha"), py::arg("impl"), py::arg("argmin") = false,
        "Test hook: one GEMM kernel implementation; (out,) = bias + alpha * X C^T, or (best, best_dist) "
        "with argmin=True.");

    m.def(
        "kmeans",
        [](FArray x, std::size_t k, int niter, uint64_t seed, bool spherical, bool kmeanspp,
           std::size_t max_points_per_centroid) {
            if (x.ndim() != 2) throw std::invalid_argument("x must be 2-D");
            const std::size_t n = x.shape(0), d = x.shape(1);
            KMeansParams p;
            p.k = k;
            p.niter = niter;
            p.seed = seed;
            p.spherical = spherical;
            p.kmeanspp = kmeanspp;
            p.max_points_per_centroid = max_points_per_centroid;
            std::vector<float> c;
            {
                py::gil_scoped_release nogil;
                c = kmeans_train(x.data(), n, d, p);
            }
            return to_numpy(std::move(c), {py::ssize_t(k), py::ssize_t(d)});
        },
        py::arg("x"), py::arg("k"), py::arg("niter") = 20, py::arg("seed") = 1234,
        py::arg("spherical") = false, py::arg("kmeanspp") = false, py::arg("max_points_per_centroid") = 256);

    py::class_<IVFCore>(m, "IVFCore")
        .def(py::init<std::size_t, std::size_t, std::size_t, int>(), py::arg("dim"), py::arg("nlist"),
             py::arg("coarse_dim"), py::arg("metric"))
        .def_property_readonly("dim", &IVFCore::dim)
        .def_property_readonly("nlist", &IVFCore::nlist)
        .def_property_readonly("coarse_dim", &IVFCore::coarse_dim)
        .def_property_readonly("metric", &IVFCore::metric)
        .def_property_readonly("is_trained", &IVFCore::is_trained)
        .def_property_readonly("ntotal", &IVFCore::ntotal)
        .def(
            "train",
            [](IVFCore& self, FArray x, int niter, uint64_t seed, bool kmeanspp, std::size_t mppc) {
                check_2d(x, self.dim(), "x");
                KMeansParams p;
                p.niter = niter;
                p.seed = seed;
                p.kmeanspp = kmeanspp;
                p.max_points_per_centroid = mppc;
                py::gil_scoped_release nogil;
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
                py::gil_scoped_release nogil;
                self.add(x.data(), n, idp);
            },
            py::arg("x"), py::arg("ids") = py::none())
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
                py::gil_scoped_release nogil;
                return self.update(x.data(), n, ids.data());
            },
            py::arg("x"), py::arg("ids"))
        .def(
            "search",
            [](const IVFCore& self, FArray xq, std::size_t k, std::size_t nprobe, std::size_t scan_dim,
               std::size_t rerank_k, std::size_t rerank_dim, std::size_t probe_dim) {
                check_2d(xq, self.dim(), "queries");
                const std::size_t nq = xq.shape(0);
                SearchParams p;
                p.k = k;
                p.nprobe = nprobe;
                p.scan_dim = scan_dim;
                p.rerank_k = rerank_k;
                p.rerank_dim = rerank_dim;
                p.probe_dim = probe_dim;
                if (k == 0) throw std::invalid_argument("k must be >= 1");
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
            py::arg("rerank_dim"), py::arg("probe_dim") = 0)
        .def(
            "probe",
            [](const IVFCore& self, FArray xq, std::size_t nprobe, std::size_t probe_dim) {
                check_2d(xq, self.dim(), "queries");
                const std::size_t nq = xq.shape(0);
                std::vector<int64_t> out(nq * nprobe);
                {
                    py::gil_scoped_release nogil;
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
        .def("export_lists", [](const IVFCore& self) {
            // Sizes, ids and vectors are taken under one lock so they agree with each other.
            std::vector<int64_t> sizes, ids;
            std::vector<float> vecs;
            {
                py::gil_scoped_release nogil;
                self.export_state(sizes, ids, vecs);
            }
            const py::ssize_t n = static_cast<py::ssize_t>(ids.size());
            return py::make_tuple(to_numpy(std::move(sizes), {py::ssize_t(self.nlist())}),
                                  to_numpy(std::move(ids), {n}),
                                  to_numpy(std::move(vecs), {n, py::ssize_t(self.dim())}));
        });
    bind_pq(m);
    init_graph(m);
}
