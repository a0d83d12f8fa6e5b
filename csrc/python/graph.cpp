// pybind11 bindings of the graph index (GraphCore). Arrays are shape-checked here; every
// long call releases the GIL. adanns/graph_index.py validates values and words the errors.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

#include "graph/graph.h"
#include "python/py_utils.h"

namespace py = pybind11;
using namespace adanns;
using namespace adanns::pyutil;

using U32Array = py::array_t<uint32_t, py::array::c_style | py::array::forcecast>;

void init_graph(py::module_& m) {
    py::class_<GraphCore>(m, "GraphCore")
        .def(py::init([](std::size_t dim, std::size_t graph_dim, std::size_t degree, int metric, std::size_t build_beam,
                         float alpha, uint64_t seed, int store) {
                 GraphParams p;
                 p.dim = dim;
                 p.graph_dim = graph_dim;
                 p.degree = degree;
                 p.metric = metric;
                 p.build_beam = build_beam;
                 p.alpha = alpha;
                 p.seed = seed;
                 p.store = store;
                 return std::make_unique<GraphCore>(p);
             }),
             py::arg("dim"), py::arg("graph_dim"), py::arg("degree"), py::arg("metric"), py::arg("build_beam"),
             py::arg("alpha"), py::arg("seed"), py::arg("store") = 0)
        .def_property_readonly("dim", [](const GraphCore& g) { return g.params().dim; })
        .def_property_readonly("graph_dim", [](const GraphCore& g) { return g.params().graph_dim; })
        .def_property_readonly("degree", [](const GraphCore& g) { return g.params().degree; })
        .def_property_readonly("build_beam", [](const GraphCore& g) { return g.params().build_beam; })
        .def_property_readonly("alpha", [](const GraphCore& g) { return g.params().alpha; })
        .def_property_readonly("seed", [](const GraphCore& g) { return g.params().seed; })
        .def_property_readonly("metric", [](const GraphCore& g) { return g.params().metric; })
        .def_property_readonly("store", [](const GraphCore& g) { return g.params().store; })
        .def_property_readonly_static("sq_wide", [](py::object) { return GraphCore::kSq8Wide; })
        .def("quantizer", [](const GraphCore& g) {
            auto sq = g.export_sq();
            const py::ssize_t rows = sq.empty() ? 0 : 2;
            const py::ssize_t gd = sq.empty() ? 0 : py::ssize_t(g.params().graph_dim);
            return to_numpy(std::move(sq), {rows, gd});
        })
        .def_property_readonly("ntotal", &GraphCore::ntotal)
        .def_property_readonly("nstored", &GraphCore::nstored)
        .def_property_readonly("ndeleted", &GraphCore::ndeleted)
        .def_property_readonly("entry", &GraphCore::entry)
        .def_property_readonly("next_id", &GraphCore::next_id)
        .def(
            "add",
            [](GraphCore& g, FArray x, std::optional<IArray> ids, py::object progress) {
                check_2d(x, g.params().dim, "x");
                const std::size_t n = x.shape(0);
                if (ids) check_1d(*ids, n, "ids");
                const int64_t* idp = ids ? ids->data() : nullptr;
                // progress(rows linked so far), called with the GIL between insertion batches; an
                // exception it raises (e.g. KeyboardInterrupt) stops the add, which then rolls back
                std::optional<py::error_already_set> failed;
                std::function<void(std::size_t)> cb = [&](std::size_t done) {
                    {
                        py::gil_scoped_acquire gil;
                        try {
                            progress(done);
                        } catch (py::error_already_set& e) {
                            failed.emplace(std::move(e));
                        }
                    }
                    if (failed) throw Interrupted();
                };
                try {
                    const pyutil::Interruptible nogil;
                    g.add(x.data(), idp, n, progress.is_none() ? nullptr : &cb);
                } catch (const Interrupted&) {
                    if (failed) throw std::move(*failed);
                    throw;
                }
            },
            py::arg("x"), py::arg("ids") = py::none(), py::arg("progress") = py::none())
        .def(
            "search",
            [](const GraphCore& g, FArray xq, std::size_t k, std::size_t beam, std::size_t rerank_k,
               std::size_t rerank_dim, std::size_t walk_dim, std::optional<UArray> filter_bits,
               std::optional<IArray> filter_ids) {
                check_2d(xq, g.params().dim, "xq");
                const std::optional<RowFilter> filt = row_filter(filter_bits, filter_ids);
                const std::size_t nq = xq.shape(0);
                py::array_t<float> D({py::ssize_t(nq), py::ssize_t(k)});
                py::array_t<int64_t> I({py::ssize_t(nq), py::ssize_t(k)});
                float* dp = D.mutable_data();
                int64_t* ip = I.mutable_data();
                {
                    const pyutil::Interruptible nogil;
                    g.search(xq.data(), nq, k, beam, rerank_k, rerank_dim, walk_dim, dp, ip, filt ? &*filt : nullptr);
                }
                return py::make_tuple(D, I);
            },
            py::arg("xq"), py::arg("k"), py::arg("beam"), py::arg("rerank_k"), py::arg("rerank_dim"),
            py::arg("walk_dim"), py::arg("filter_bits") = py::none(), py::arg("filter_ids") = py::none())
        .def(
            "search_exact",
            [](const GraphCore& g, FArray xq, std::size_t k, std::size_t rerank_dim) {
                check_2d(xq, g.params().dim, "xq");
                const std::size_t nq = xq.shape(0);
                py::array_t<float> D({py::ssize_t(nq), py::ssize_t(k)});
                py::array_t<int64_t> I({py::ssize_t(nq), py::ssize_t(k)});
                float* dp = D.mutable_data();
                int64_t* ip = I.mutable_data();
                {
                    py::gil_scoped_release nogil;
                    g.search_exact(xq.data(), nq, k, rerank_dim, dp, ip);
                }
                return py::make_tuple(D, I);
            },
            py::arg("xq"), py::arg("k"), py::arg("rerank_dim"))
        .def_property_readonly("vectors_mapped", &GraphCore::vectors_mapped)
        .def(
            "remove_ids",
            [](GraphCore& g, IArray ids) {
                const std::size_t n = ids.size();
                py::gil_scoped_release nogil;
                return g.remove_ids(ids.data(), n);
            },
            py::arg("ids"))
        .def("consolidate",
             [](GraphCore& g) {
                 py::gil_scoped_release nogil;
                 g.consolidate();
             })
        .def("reachable",
             [](const GraphCore& g) {
                 py::gil_scoped_release nogil;
                 return g.reachable();
             })
        .def("export",
             [](const GraphCore& g) {
                 // one consistent snapshot is the caller's business: exports happen under the GIL
                 const std::size_t dim = g.params().dim, R = g.params().degree;
                 auto ids = g.export_ids();
                 const std::size_t n = ids.size();
                 auto vec = g.export_vectors();
                 auto nb = g.export_neighbors();
                 return py::make_tuple(to_numpy(std::move(vec), {py::ssize_t(n), py::ssize_t(dim)}),
                                       to_numpy(std::move(ids), {py::ssize_t(n)}),
                                       to_numpy(std::move(nb), {py::ssize_t(n), py::ssize_t(R)}));
             })
        .def(
            "set_graph",
            [](GraphCore& g, FArray vectors, IArray ids, U32Array neighbors, uint32_t entry, int64_t next_id,
               std::optional<FArray> sq, std::string map_path, std::size_t map_offset) {
                check_2d(vectors, g.params().dim, "vectors");
                const std::size_t n = vectors.shape(0);
                check_1d(ids, n, "ids");
                check_2d(neighbors, g.params().degree, "neighbors");
                if (static_cast<std::size_t>(neighbors.shape(0)) != n)
                    throw std::invalid_argument("neighbors must have one row per vector");
                if (sq) check_2d(*sq, g.params().graph_dim, "sq"), check_size(*sq, 2 * g.params().graph_dim, "sq");
                const float* sqp = sq ? sq->data() : nullptr;
                py::gil_scoped_release nogil;
                g.set_graph(vectors.data(), ids.data(), neighbors.data(), n, entry, next_id, sqp, map_path, map_offset);
            },
            py::arg("vectors"), py::arg("ids"), py::arg("neighbors"), py::arg("entry"), py::arg("next_id"),
            py::arg("sq") = py::none(), py::arg("map_path") = std::string(), py::arg("map_offset") = 0,
            "map_path: serve the full rows memory-mapped from that file at byte map_offset (load(mmap=True)).");
}
