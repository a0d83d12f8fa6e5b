// Helpers shared by the pybind11 binding files: array types, shape checks at the boundary,
// and zero-copy conversion of a std::vector into a numpy array.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/row_filter.h"
#include "common/stats.h"

namespace adanns {
namespace pyutil {

namespace py = pybind11;

using FArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using IArray = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using BArray = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;
using UArray = py::array_t<uint64_t, py::array::c_style | py::array::forcecast>;

// Ctrl-C in a long call (common/cancel.h): the calling thread re-acquires the GIL briefly every
// few ms and runs PyErr_CheckSignals; when a handler raised (KeyboardInterrupt), the error stays
// pending and the call stops with Interrupted, which module.cpp's translator turns back into it.
inline bool poll_python_signals() {
    const PyGILState_STATE st = PyGILState_Ensure();
    const bool stop = PyErr_CheckSignals() != 0;
    PyGILState_Release(st);
    return stop;
}

// Python runs signal handlers on the main thread only: calls from other threads never poll.
inline bool on_main_thread() {
    static const unsigned long main_ident =
        py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
    return PyThread_get_thread_ident() == main_ident;
}

// Releases the GIL for a long call that Ctrl-C may stop (use it where an interrupted call leaves
// the index unchanged: train, add, update, search; the core's commit sections run under NoCancel).
class __attribute__((visibility("hidden"))) Interruptible {  // (hidden like pybind11)
public:
    Interruptible() : scope_(on_main_thread() ? &poll_python_signals : nullptr) {}

private:
    CancelScope scope_;             // made with the GIL held, destroyed after it is re-acquired
    py::gil_scoped_release nogil_;
};

// The filter of a filtered search from its two Python forms (adanns/filters.py builds them): a
// bitmap of 64-bit words over ids, or a sorted allow-list of ids. The arrays must outlive the search.
inline std::optional<RowFilter> row_filter(const std::optional<UArray>& bits, const std::optional<IArray>& ids) {
    RowFilter f;
    if (bits) {
        if (bits->ndim() != 1) throw std::invalid_argument("filter bitmap must be 1-D");
        f.bits = bits->data();
        f.nbits = static_cast<std::size_t>(bits->shape(0)) * 64;
        static const uint64_t none = 0;
        if (!f.bits || f.nbits == 0) f.bits = &none, f.nbits = 0;  // an empty bitmap allows nothing
        return f;
    }
    if (ids) {
        if (ids->ndim() != 1) throw std::invalid_argument("filter ids must be 1-D");
        f.sorted = ids->data();
        f.nsorted = static_cast<std::size_t>(ids->shape(0));
        for (std::size_t i = 1; i < f.nsorted; ++i)
            if (f.sorted[i] < f.sorted[i - 1]) throw std::invalid_argument("filter ids must be sorted");
        return f;
    }
    return std::nullopt;
}

inline void check_2d(const py::array& a, std::size_t cols, const char* name) {
    if (a.ndim() != 2) throw std::invalid_argument(std::string(name) + " must be 2-D");
    if (static_cast<std::size_t>(a.shape(1)) != cols)
        throw std::invalid_argument(std::string(name) + " must have " + std::to_string(cols) + " columns");
}

inline void check_1d(const py::array& a, std::size_t n, const char* name) {
    if (a.ndim() != 1 || static_cast<std::size_t>(a.shape(0)) != n)
        throw std::invalid_argument(std::string(name) + " must be 1-D of length " + std::to_string(n));
}

inline void check_size(const py::array& a, std::size_t n, const char* name) {
    if (static_cast<std::size_t>(a.size()) != n)
        throw std::invalid_argument(std::string(name) + " must have " + std::to_string(n) + " elements");
}

// The numpy array takes the vector's buffer without a copy; the capsule owns it.
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
    auto owned = std::make_unique<std::vector<T>>(std::move(v));
    T* data = owned->data();
    py::capsule owner(owned.get(), [](void* p) { std::unique_ptr<std::vector<T>> drop(static_cast<std::vector<T>*>(p)); });
    owned.release();
    return py::array_t<T>(shape, data, owner);
}

// (sizes, ids, vectors) of an IVF-Flat core's lists as numpy arrays, taken by the core under one
// lock so they agree with each other (Core: IVFCore or the GPU index; export_state(sizes, ids, vecs)).
template <class Core>
py::tuple export_lists_tuple(const Core& self) {
    std::vector<int64_t> sizes, ids;
    std::vector<float> vecs;
    {
        py::gil_scoped_release nogil;
        self.export_state(sizes, ids, vecs);
    }
    const py::ssize_t n = static_cast<py::ssize_t>(ids.size());
    return py::make_tuple(to_numpy(std::move(sizes), {py::ssize_t(self.nlist())}), to_numpy(std::move(ids), {n}),
                          to_numpy(std::move(vecs), {n, py::ssize_t(self.dim())}));
}

// The read-only properties every IVF-family core shares (IVFCore, PQCore, the GPU index):
// dim, nlist, coarse_dim, metric and ntotal, registered on cls, which is returned.
template <class Cls>
Cls def_list_index_properties(Cls cls) {
    using Core = typename Cls::type;
    cls.def_property_readonly("dim", &Core::dim)
        .def_property_readonly("nlist", &Core::nlist)
        .def_property_readonly("coarse_dim", &Core::coarse_dim)
        .def_property_readonly("metric", &Core::metric)
        .def_property_readonly("ntotal", &Core::ntotal);
    return cls;
}

// A search's per-stage figures as a dict (adanns.SearchStats is built from it in Python).
inline py::dict stats_dict(const SearchStats& st) {
    py::dict d;
    d["coarse_s"] = st.coarse_s;
    d["scan_s"] = st.scan_s;
    d["rerank_s"] = st.rerank_s;
    d["output_s"] = st.output_s;
    d["rows_scanned"] = st.rows_scanned;
    d["candidates_reranked"] = st.candidates_reranked;
    return d;
}

// The body of every batch-search binding: checks the queries and k, builds the filter, allocates
// (D, I), runs `search(xq, nq, D, I, stats, filter)` with the GIL released (Ctrl-C polled) and
// returns (D, I) or, with_stats, (D, I, stats dict).
template <class Search>
py::object batch_search_binding(const FArray& xq, std::size_t dim, std::size_t k, bool with_stats,
                                const std::optional<UArray>& filter_bits, const std::optional<IArray>& filter_ids,
                                Search&& search) {
    check_2d(xq, dim, "queries");
    if (k == 0) throw std::invalid_argument("k must be >= 1");
    const std::size_t nq = xq.shape(0);
    std::vector<float> D(nq * k);
    std::vector<int64_t> I(nq * k);
    SearchStats st;
    const std::optional<RowFilter> filt = row_filter(filter_bits, filter_ids);
    {
        const Interruptible nogil;
        search(xq.data(), nq, D.data(), I.data(), with_stats ? &st : nullptr, filt ? &*filt : nullptr);
    }
    py::tuple out = py::make_tuple(to_numpy(std::move(D), {py::ssize_t(nq), py::ssize_t(k)}),
                                   to_numpy(std::move(I), {py::ssize_t(nq), py::ssize_t(k)}));
    if (!with_stats) return std::move(out);
    return py::make_tuple(out[0], out[1], stats_dict(st));
}

}  // namespace pyutil
}  // namespace adanns
