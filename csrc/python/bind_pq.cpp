// pybind11 bindings of the PQ / IVF-PQ core (module adanns._core). Shapes are checked
// here; values and user-facing messages are checked by adanns/pq_index.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "common/norms.h"
#include "kernels/kernels.h"
#include "ivf/ivfpq.h"
#include "common/parallel.h"
#include "quant/pq.h"
#include "python/py_utils.h"

namespace py = pybind11;
using namespace adanns;

using namespace adanns::pyutil;

namespace {
// The binding of encode / decode: (n, width(in)) rows with their n lists -> an (n, width(out))
// array filled by (self.*f)(in, n, lists, out) with the GIL released; `name` words the shape error.
template <class In, class Out>
auto rows_with_lists(void (PQCore::*f)(const In*, std::size_t, const int64_t*, Out*) const, const char* name,
                     std::size_t (PQCore::*in_width)() const, std::size_t (PQCore::*out_width)() const) {
    using InArray = py::array_t<In, py::array::c_style | py::array::forcecast>;
    return [=](const PQCore& self, InArray in, IArray lists) {
        check_2d(in, (self.*in_width)(), name);
        const std::size_t n = in.shape(0);
        check_1d(lists, n, "lists");
        std::vector<Out> out(n * (self.*out_width)());
        {
            const Interruptible nogil;
            (self.*f)(in.data(), n, lists.data(), out.data());
        }
        return to_numpy(std::move(out), {py::ssize_t(n), py::ssize_t((self.*out_width)())});
    };
}

// The binding of add / update: the rows of x (n, dim) with their n ids and n seq numbers, passed
// to (self.*f) with the GIL released (Ctrl-C polled); returns what f returns.
template <class R>
auto rows_ids_seq(R (PQCore::*f)(const float*, std::size_t, const int64_t*, const int64_t*)) {
    return [f](PQCore& self, FArray x, IArray ids, IArray seq) -> R {
        check_2d(x, self.dim(), "x");
        const std::size_t n = x.shape(0);
        check_1d(ids, n, "ids");
        check_1d(seq, n, "seq");
        const Interruptible nogil;
        return (self.*f)(x.data(), n, ids.data(), seq.data());
    };
}
}  // namespace

void bind_pq(py::module_& m) {
    m.def("pq_simd_level", []() { return std::string(kernels().name); });  // one table: same as simd_level
    m.def(
        "normalize_rows",
        [](FArray x) {
            // Unit rows with the core's one normalisation (common/norms.h); zero rows stay zero.
            if (x.ndim() != 2) throw std::invalid_argument("x must be 2-D");
            const std::size_t n = x.shape(0), d = x.shape(1);
            std::vector<float> out(n * d);
            {
                const pyutil::Interruptible nogil;
                normalize_rows(x.data(), n, d, out.data());
            }
            return to_numpy(std::move(out), {py::ssize_t(n), py::ssize_t(d)});
        },
        py::arg("x"));
    m.def(
        "pq_train",
        [](FArray x, std::size_t M, int niter, uint64_t seed, std::size_t mppc) {
            if (x.ndim() != 2) throw std::invalid_argument("x must be 2-D");
            const std::size_t n = x.shape(0), d = x.shape(1);
            if (M == 0 || d % M != 0) throw std::invalid_argument("m must divide the dimension");
            std::vector<float> cb;
            {
                const pyutil::Interruptible nogil;
                cb = pq_train(x.data(), n, d, M, niter, seed, mppc);
            }
            return to_numpy(std::move(cb), {py::ssize_t(M), py::ssize_t(kPQKsub), py::ssize_t(d / M)});
        },
        py::arg("x"), py::arg("m"), py::arg("niter") = 25, py::arg("seed") = 1234,
        py::arg("max_points_per_centroid") = 256, "Per-sub-space k-means: (m, 256, d/m) codebooks.");
    m.def(
        "pq_encode",
        [](FArray x, FArray cb) {
            if (x.ndim() != 2 || cb.ndim() != 3 || static_cast<std::size_t>(cb.shape(1)) != kPQKsub)
                throw std::invalid_argument("x must be 2-D and codebooks (m, 256, dsub)");
            const std::size_t n = x.shape(0), d = x.shape(1), M = cb.shape(0);
            if (M == 0 || M * static_cast<std::size_t>(cb.shape(2)) != d)
                throw std::invalid_argument("codebooks do not match the dimension");
            std::vector<uint8_t> codes(n * M);
            {
                const pyutil::Interruptible nogil;
                pq_encode(x.data(), n, d, d, M, cb.data(), codes.data());
            }
            return to_numpy(std::move(codes), {py::ssize_t(n), py::ssize_t(M)});
        },
        py::arg("x"), py::arg("codebooks"));
    m.def(
        "pq_decode",
        [](BArray codes, FArray cb) {
            if (codes.ndim() != 2 || cb.ndim() != 3 || static_cast<std::size_t>(cb.shape(1)) != kPQKsub ||
                codes.shape(1) != cb.shape(0))
                throw std::invalid_argument("codes (n, m) and codebooks (m, 256, dsub) required");
            const std::size_t n = codes.shape(0), M = cb.shape(0), d = M * cb.shape(2);
            std::vector<float> out(n * d);
            {
                const pyutil::Interruptible nogil;
                pq_decode(codes.data(), n, d, M, cb.data(), out.data());
            }
            return to_numpy(std::move(out), {py::ssize_t(n), py::ssize_t(d)});
        },
        py::arg("codes"), py::arg("codebooks"));
    def_list_index_properties(py::class_<PQCore>(m, "PQCore"))
        .def(py::init<std::size_t, std::size_t, std::size_t, std::size_t, std::size_t, int, bool>(), py::arg("dim"),
             py::arg("nlist"), py::arg("coarse_dim"), py::arg("pq_dim"), py::arg("m"), py::arg("metric"),
             py::arg("keep_full") = false)
        .def_property_readonly("is_trained", &PQCore::is_trained)
        .def_property_readonly("pq_dim", &PQCore::pq_dim)
        .def_property_readonly("m", &PQCore::m)
        .def(
            "set_state",
            [](PQCore& self, std::optional<FArray> centroids, FArray anchors, std::optional<FArray> rotation,
               FArray codebooks) {
                const std::size_t P = self.pq_dim();
                if (self.nlist() > 1) {
                    if (!centroids) throw std::invalid_argument("centroids required");
                    check_2d(*centroids, self.coarse_dim(), "centroids");
                    check_size(*centroids, self.nlist() * self.coarse_dim(), "centroids");
                }
                check_2d(anchors, P, "anchors");
                check_size(anchors, self.nlist() * P, "anchors");
                if (rotation) {
                    check_2d(*rotation, P, "rotation");
                    check_size(*rotation, P * P, "rotation");
                }
                if (codebooks.ndim() != 3 || static_cast<std::size_t>(codebooks.shape(0)) != self.m() ||
                    static_cast<std::size_t>(codebooks.shape(1)) != kPQKsub ||
                    static_cast<std::size_t>(codebooks.shape(2)) != P / self.m())
                    throw std::invalid_argument("codebooks must be (m, 256, pq_dim / m)");
                const float* c = (self.nlist() > 1) ? centroids->data() : nullptr;
                const float* r = rotation ? rotation->data() : nullptr;
                py::gil_scoped_release nogil;
                self.set_state(c, anchors.data(), r, codebooks.data());
            },
            py::arg("centroids"), py::arg("anchors"), py::arg("rotation"), py::arg("codebooks"))
        .def(
            "targets",
            [](const PQCore& self, FArray x) {
                check_2d(x, self.dim(), "x");
                const std::size_t n = x.shape(0);
                std::vector<float> out(n * self.pq_dim());
                {
                    const pyutil::Interruptible nogil;
                    self.targets(x.data(), n, out.data());
                }
                return to_numpy(std::move(out), {py::ssize_t(n), py::ssize_t(self.pq_dim())});
            },
            py::arg("x"))
        .def(
            "assign",
            [](const PQCore& self, FArray x) {
                check_2d(x, self.dim(), "x");
                const std::size_t n = x.shape(0);
                std::vector<int64_t> out(n);
                {
                    const pyutil::Interruptible nogil;
                    self.assign(x.data(), n, out.data());
                }
                return to_numpy(std::move(out), {py::ssize_t(n)});
            },
            py::arg("x"))
        .def("encode", rows_with_lists(&PQCore::encode, "x", &PQCore::dim, &PQCore::m), py::arg("x"), py::arg("lists"))
        .def("decode", rows_with_lists(&PQCore::decode, "codes", &PQCore::m, &PQCore::pq_dim), py::arg("codes"),
             py::arg("lists"))
        .def("add", rows_ids_seq(&PQCore::add), py::arg("x"), py::arg("ids"), py::arg("seq"))
        .def(
            "add_codes",
            [](PQCore& self, BArray codes, IArray ids, IArray seq, IArray lists) {
                check_2d(codes, self.m(), "codes");
                const std::size_t n = codes.shape(0);
                check_1d(ids, n, "ids");
                check_1d(seq, n, "seq");
                check_1d(lists, n, "lists");
                py::gil_scoped_release nogil;
                self.add_codes(codes.data(), n, ids.data(), seq.data(), lists.data());
            },
            py::arg("codes"), py::arg("ids"), py::arg("seq"), py::arg("lists"))
        .def_property_readonly("keep_full", &PQCore::keep_full)
        .def_property_readonly("full_is_mapped", &PQCore::full_is_mapped)
        .def_property_readonly("full_rows", &PQCore::full_rows)
        .def(
            "set_full",
            [](PQCore& self, FArray full) {
                check_2d(full, self.dim(), "full vectors");
                py::gil_scoped_release nogil;
                self.set_full(full.data(), full.shape(0));
            },
            py::arg("full"), "Installs a RAM copy of the full vectors (rows by seq number; used by load).")
        .def("spill_full", &PQCore::spill_full, py::arg("dir"),
             "Rows added from now on are written to an unlinked temporary file in dir (keep_full='mmap').")
        .def(
            "map_full",
            [](PQCore& self, const std::string& path, std::size_t offset, std::size_t n) {
                py::gil_scoped_release nogil;
                self.map_full(path, offset, n);
            },
            py::arg("path"), py::arg("offset"), py::arg("n"),
            "Maps n full vectors (float32, row-major) read-only from path at byte offset (used by load).")
        .def(
            "remove_ids",
            [](PQCore& self, IArray ids) {
                if (ids.ndim() != 1) throw std::invalid_argument("ids must be 1-D");
                py::gil_scoped_release nogil;
                return self.remove_ids(ids.data(), ids.shape(0));
            },
            py::arg("ids"))
        .def("reset", &PQCore::reset)
        .def("update", rows_ids_seq(&PQCore::update), py::arg("x"), py::arg("ids"), py::arg("seq"))
        .def(
            "search",
            [](const PQCore& self, FArray xq, std::size_t k, std::size_t nprobe, std::size_t rerank_k,
               bool with_stats, std::optional<UArray> filter_bits, std::optional<IArray> filter_ids) -> py::object {
                const PQSearchParams p{k, nprobe, rerank_k};
                return batch_search_binding(xq, self.dim(), k, with_stats, filter_bits, filter_ids,
                                            [&](const float* q, std::size_t nq, float* D, int64_t* I, SearchStats* st,
                                                const RowFilter* f) { self.search(q, nq, p, D, I, st, f); });
            },
            py::arg("xq"), py::arg("k"), py::arg("nprobe"), py::arg("rerank_k"), py::arg("with_stats") = false,
            py::arg("filter_bits") = py::none(), py::arg("filter_ids") = py::none())
        .def("centroids",
             [](const PQCore& self) {
                 return to_numpy(self.centroids(), {py::ssize_t(self.nlist() > 1 ? self.nlist() : 0),
                                                    py::ssize_t(self.coarse_dim())});
             })
        .def("anchors",
             [](const PQCore& self) {
                 return to_numpy(self.anchors(), {py::ssize_t(self.nlist()), py::ssize_t(self.pq_dim())});
             })
        .def_property_readonly("has_rotation", &PQCore::has_rotation)
        .def("rotation",
             [](const PQCore& self) -> py::object {
                 std::vector<float> r = self.rotation();
                 if (r.empty()) return py::none();
                 return to_numpy(std::move(r), {py::ssize_t(self.pq_dim()), py::ssize_t(self.pq_dim())});
             })
        .def("codebooks",
             [](const PQCore& self) {
                 return to_numpy(self.codebooks(), {py::ssize_t(self.m()), py::ssize_t(kPQKsub),
                                                    py::ssize_t(self.pq_dim() / self.m())});
             })
        .def("list_sizes", [](const PQCore& self) { return to_numpy(self.list_sizes(), {py::ssize_t(self.nlist())}); })
        .def(
            "export_lists",
            [](const PQCore& self, bool with_full) {
                std::vector<int64_t> sizes, ids, rows;
                std::vector<uint8_t> codes;
                std::vector<float> full;
                {
                    py::gil_scoped_release nogil;
                    self.export_state(sizes, ids, rows, codes, with_full ? &full : nullptr);
                }
                const py::ssize_t n = static_cast<py::ssize_t>(ids.size());
                py::tuple t = py::make_tuple(to_numpy(std::move(sizes), {py::ssize_t(self.nlist())}),
                                             to_numpy(std::move(ids), {n}), to_numpy(std::move(rows), {n}),
                                             to_numpy(std::move(codes), {n, py::ssize_t(self.m())}));
                if (!with_full) return t;
                py::object f = py::none();
                if (self.keep_full()) f = to_numpy(std::move(full), {n, py::ssize_t(self.dim())});
                return py::tuple(t + py::make_tuple(f));
            },
            py::arg("with_full") = false,
            "Consistent snapshot: (sizes, ids, rows, codes[, full or None with with_full]); rows renumbered 0..ntotal-1.");
}
