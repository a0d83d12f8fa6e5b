// Test hooks of the module: run one named kernel implementation (scalar or AVX2, by
// kernels_named) directly, so tests can compare the implementations of the kernel table
// element by element.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "common/topk.h"
#include "graph/gather_kernels.h"
#include "graph/visited.h"
#include "kernels/kernels.h"
#include "python/py_utils.h"
#include "graph/sq8.h"
#include "ivf/sq8_blocks.h"
#include "storage/invlists.h"

namespace py = pybind11;
using namespace adanns;
using namespace adanns::pyutil;

namespace {
// The rerank hook's arguments: a known kind, one 1-D vector v and the 2-D rows M, and a width w
// within both.
void check_scan_args(int kind, const FArray& v, const FArray& M, std::size_t w, const char* shapes) {
    if (kind < kScanL2 || kind > kScanIPNorm) throw std::invalid_argument("bad kind");
    if (v.ndim() != 1 || M.ndim() != 2) throw std::invalid_argument(shapes);
    if (w > static_cast<std::size_t>(M.shape(1)) || w > static_cast<std::size_t>(v.shape(0)))
        throw std::invalid_argument("w too large");
}
}  // namespace

void bind_test_hooks(py::module_& m) {
    m.def(
        "scan",
        [](int kind, FArray Q, FArray X, std::size_t w, const std::string& impl) {
            if (kind < kScanL2 || kind > kScanIPNorm) throw std::invalid_argument("bad kind");
            if (Q.ndim() != 2 || X.ndim() != 2) throw std::invalid_argument("Q and X must be 2-D");
            if (w > static_cast<std::size_t>(X.shape(1)) || w > static_cast<std::size_t>(Q.shape(1)))
                throw std::invalid_argument("w too large");
            const std::size_t m = Q.shape(0), n = X.shape(0), stride = X.shape(1);
            std::vector<const float*> qs(m);
            for (std::size_t i = 0; i < m; ++i) qs[i] = Q.data() + i * Q.shape(1);
            std::vector<float> out(m * n, 0.f), xnorm(n, 0.f);
            kernels_named(impl.c_str()).scan(kind, qs.data(), m, X.data(), n, stride, w, out.data(), n, xnorm.data());
            return py::make_tuple(to_numpy(std::move(out), {py::ssize_t(m), py::ssize_t(n)}),
                                  to_numpy(std::move(xnorm), {py::ssize_t(n)}));
        },
        py::arg("kind"), py::arg("Q"), py::arg("X"), py::arg("w"), py::arg("impl"),
        "Test hook: run one scan kernel implementation (the rows of Q against the rows of X).");

    // The IVF int8 scan's blocks (ivf/sq8_blocks.h) of rows X coded by a quantiser fitted to them.
    struct Sq8Blocks {
        std::size_t n, d, wide, bb;
        std::vector<float> lo, step;
        std::vector<uint8_t> codes;
        explicit Sq8Blocks(const FArray& X)
            : n(X.shape(0)), d(X.shape(1)), wide(std::min(kSq8Wide, d)), bb(sq8_block_bytes(d, wide)), lo(d), step(d) {
            sq8_fit(X.data(), n, d, d, wide, lo.data(), step.data());
            codes.assign((n + kSq8BlockRows - 1) / kSq8BlockRows * bb, 0);  // (no padding: ASan sees any read past a block)
            sq8_encode_blocks(X.data(), n, d, d, wide, lo.data(), step.data(), codes.data());
        }
        py::array_t<uint32_t> unpacked() const {  // n x d codes
            std::vector<uint32_t> c(n * d);
            for (std::size_t r = 0; r < n; ++r)
                for (std::size_t t = 0; t < d; ++t)
                    c[r * d + t] = sq8_block_code(&codes[(r / kSq8BlockRows) * bb], wide, r % kSq8BlockRows, t);
            return to_numpy(std::move(c), {py::ssize_t(n), py::ssize_t(d)});
        }
    };
    m.def(
        "sq8_tile",
        [](FArray X, FArray Q, std::size_t w, const std::string& impl) {
            if (X.ndim() != 2 || Q.ndim() != 2 || X.shape(1) != Q.shape(1)) throw std::invalid_argument("X, Q: 2-D, same columns");
            if (w == 0 || w > static_cast<std::size_t>(X.shape(1))) throw std::invalid_argument("w must be in 1..d");
            const Sq8TileFn fn = sq8_tile_named(impl.c_str());
            const Sq8Blocks b(X);
            const std::size_t m = Q.shape(0), h = std::min(b.wide, w), lw = w - h, q8s = (lw + 63) / 64 * 64;
            std::vector<float> qw(m * w);
            std::vector<int8_t> q8(m * q8s + 64, 0);  // (+64: never empty, also when w <= wide)
            std::vector<Sq8TileQuery> sq(m);
            std::vector<const Sq8TileQuery*> qs(m);
            for (std::size_t i = 0; i < m; ++i) {
                for (std::size_t t = 0; t < w; ++t) qw[i * w + t] = Q.data()[i * b.d + t] * b.step[t];
                sq[i] = Sq8TileQuery{q8.data() + i * q8s, make_sq8_query8(qw.data() + i * w + h, lw, q8.data() + i * q8s),
                                     qw.data() + i * w};
                qs[i] = &sq[i];
            }
            std::vector<float> out(m * b.n, 0.f);
            fn(qs.data(), m, b.codes.data(), b.wide, b.bb, b.n, w, out.data(), b.n);
            return py::make_tuple(to_numpy(std::move(out), {py::ssize_t(m), py::ssize_t(b.n)}), b.unpacked(),
                                  to_numpy(std::vector<float>(b.step), {py::ssize_t(b.d)}));
        },
        py::arg("X"), py::arg("Q"), py::arg("w"), py::arg("impl"),
        "Test hook: the int8 IVF scan's tile kernel by name ('scalar', 'avx2', 'vnni') on rows X coded by a "
        "quantiser fitted to them, query weights Q * step; returns (values, the rows' codes, step).");
    m.def(
        "sq8_norms",
        [](FArray X, std::size_t w, const std::string& impl) {
            if (X.ndim() != 2) throw std::invalid_argument("X: 2-D");
            if (w == 0 || w > static_cast<std::size_t>(X.shape(1))) throw std::invalid_argument("w must be in 1..d");
            const Sq8NormsFn fn = sq8_norms_named(impl.c_str());
            const Sq8Blocks b(X);
            std::vector<float> wsq(b.d + 4, 0.f), out(b.n, 0.f);
            for (std::size_t t = 0; t < w; ++t) wsq[t] = b.step[t] * b.step[t];
            fn(b.codes.data(), b.wide, b.bb, b.n, w, wsq.data(), out.data());
            return py::make_tuple(to_numpy(std::move(out), {py::ssize_t(b.n)}), b.unpacked(),
                                  to_numpy(std::vector<float>(b.step), {py::ssize_t(b.d)}));
        },
        py::arg("X"), py::arg("w"), py::arg("impl"),
        "Test hook: the int8 IVF scan's L2 row term (sum of step^2 c^2 over the first w dims) by name "
        "('scalar', 'avx2'); returns (values, the rows' codes, step).");
    m.def("cpu_has_avx512_vnni", &cpu_has_avx512_vnni);
    // Where the rows of inverted lists start within a cache line (address mod 64), for lists of
    // n rows of dim floats grown by appends (each list's array reallocated as it grows).
    m.def("list_row_offsets", [](std::size_t nlist, std::size_t dim, std::size_t n) {
        InvertedLists lists(nlist, dim);
        const std::vector<float> x(dim, 1.f);
        for (std::size_t l = 0; l < nlist; ++l)
            for (std::size_t i = 0; i < n; ++i) lists.append(l, x.data(), static_cast<int64_t>(l * n + i));
        std::vector<std::size_t> out;
        for (std::size_t l = 0; l < nlist; ++l) out.push_back(reinterpret_cast<uintptr_t>(lists.list_data(l)) % 64);
        return out;
    });

    // Which forms the other kernel families took at run time (they follow the kernel table):
    // a CPU with AVX2 must never fall back to their scalar forms.
    m.def("chosen_kernels", []() {
        py::dict d;
        d["table"] = std::string(kernels().name);
        d["sq8_tile_scalar"] = sq8_tile_kernel() == Sq8TileFn(&sq8_tile_scalar);
        d["gather_scalar"] = gather_kernel() == GatherFn(&gather_scalar);
        return d;
    });

    m.def(
        "rerank",
        [](int kind, FArray x, FArray Q, std::size_t w, const std::string& impl) {
            check_scan_args(kind, x, Q, w, "x must be 1-D, Q 2-D");
            const std::size_t m = Q.shape(0), stride = Q.shape(1);
            const RerankFn fn = kernels_named(impl.c_str()).rerank;
            std::vector<const float*> qs(m);
            for (std::size_t i = 0; i < m; ++i) qs[i] = Q.data() + i * stride;
            std::vector<float> out(m, 0.f);
            float xn = 0.f;
            if (m > 0) fn(kind, x.data(), qs.data(), m, w, out.data(), &xn);
            return py::make_tuple(to_numpy(std::move(out), {py::ssize_t(m)}), xn);
        },
        py::arg("kind"), py::arg("x"), py::arg("Q"), py::arg("w"), py::arg("impl"),
        "Test hook: run one rerank kernel implementation (one row x against the rows of Q).");

    m.def(
        "select_le",
        [](FArray d, float thr, const std::string& impl) {
            if (d.ndim() != 1) throw std::invalid_argument("d must be 1-D");
            const std::size_t n = d.shape(0);
            const SelectFn fn = kernels_named(impl.c_str()).select;
            std::vector<uint32_t> out(n + kSelectSlack);
            out.resize(fn(d.data(), n, thr, out.data()));
            const py::ssize_t m = static_cast<py::ssize_t>(out.size());
            return to_numpy(std::move(out), {m});
        },
        py::arg("d"), py::arg("thr"), py::arg("impl"),
        "Test hook: one selection kernel implementation (the indices r with d[r] <= thr).");
    m.def(
        "kth",
        [](FArray a, std::size_t k, const std::string& impl) {
            if (a.ndim() != 1 || k >= static_cast<std::size_t>(a.shape(0))) throw std::invalid_argument("need a 1-D a and k < len(a)");
            const std::size_t n = a.shape(0);
            std::vector<float> x(a.data(), a.data() + n), tmp(n);
            return kernels_named(impl.c_str()).kth(x.data(), n, k, tmp.data());
        },
        py::arg("a"), py::arg("k"), py::arg("impl"), "Test hook: one kth kernel implementation (the value of rank k).");
    m.def(
        "topk_runs",
        [](FArray d, const std::vector<std::size_t>& runs, std::size_t k, float bound, const std::string& impl) {
            // d pushed into one TopKBuffer as consecutive runs (labels = positions in d), after
            // bound(bound); returns the finalized (distances, labels), best first, k entries.
            if (d.ndim() != 1 || k == 0) throw std::invalid_argument("d must be 1-D and k >= 1");
            std::size_t total = 0;
            for (const std::size_t t : runs) total += t;
            if (total > static_cast<std::size_t>(d.shape(0))) throw std::invalid_argument("runs longer than d");
            std::vector<Candidate> buf(2 * k);
            std::vector<float> scratch(4 * k);
            const Kernels& kt = kernels_named(impl.c_str());
            TopKBuffer top(buf.data(), k, scratch.data(), kt.select, kt.kth);
            top.bound(bound);
            std::size_t at = 0;
            for (const std::size_t t : runs) {
                top.push_run(d.data() + at, t, static_cast<int64_t>(at));
                at += t;
            }
            top.finalize();
            std::vector<float> D(k);
            std::vector<int64_t> L(k);
            for (std::size_t i = 0; i < k; ++i) D[i] = buf[i].d, L[i] = buf[i].label;
            return py::make_tuple(to_numpy(std::move(D), {py::ssize_t(k)}), to_numpy(std::move(L), {py::ssize_t(k)}));
        },
        py::arg("d"), py::arg("runs"), py::arg("k"), py::arg("bound"), py::arg("impl"),
        "Test hook: a shortlist (TopKBuffer) fed by push_run with one selection kernel.");

    m.def(
        "gemm",
        [](FArray X, FArray C, std::optional<FArray> bias, float alpha, const std::string& impl,
           bool argmin) -> py::tuple {
            if (X.ndim() != 2 || C.ndim() != 2) throw std::invalid_argument("X and C must be 2-D");
            const std::size_t n = X.shape(0), d = X.shape(1), k = C.shape(0);
            if (static_cast<std::size_t>(C.shape(1)) != d) throw std::invalid_argument("X and C must have the same columns");
            if (bias) check_1d(*bias, k, "bias");
            const Kernels& kt = kernels_named(impl.c_str());
            std::vector<float> packed(packed_size(k, d));
            pack_panels(C.data(), k, d, d, packed.data());
            const float* b = bias ? bias->data() : nullptr;
            if (argmin) {
                std::vector<int64_t> best(n);
                std::vector<float> bd(n);
                kt.gemm_argmin(X.data(), n, d, packed.data(), k, d, b, alpha, best.data(), bd.data());
                return py::tuple(py::make_tuple(to_numpy(std::move(best), {py::ssize_t(n)}),
                                                to_numpy(std::move(bd), {py::ssize_t(n)})));
            }
            std::vector<float> out(n * k);
            kt.gemm(X.data(), n, d, packed.data(), k, d, b, alpha, out.data(), k);
            return py::tuple(py::make_tuple(to_numpy(std::move(out), {py::ssize_t(n), py::ssize_t(k)})));
        },
        py::arg("X"), py::arg("C"), py::arg("bias"), py::arg("alpha"), py::arg("impl"), py::arg("argmin") = false,
        "Test hook: one GEMM kernel implementation; (out,) = bias + alpha * X C^T, or (best, best_dist) "
        "with argmin=True.");

    m.def(
        "adc",
        [](FArray lut, BArray codes, const std::string& impl) {
            // Test hook: row-major codes (n, m) -> sums of lut[s, code] with one kernel.
            if (lut.ndim() != 2 || lut.shape(1) != py::ssize_t(kPQKsub) || codes.ndim() != 2 ||
                codes.shape(1) != lut.shape(0))
                throw std::invalid_argument("lut (m, 256) and codes (n, m) required");
            const std::size_t n = codes.shape(0), M = codes.shape(1);
            const AdcFn fn = kernels_named(impl.c_str()).adc;
            const std::size_t nb = (n + kCodeGroup - 1) / kCodeGroup;
            std::vector<uint8_t> blk(nb * kCodeGroup * M, 0);
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t s = 0; s < M; ++s)
                    blk[(i / kCodeGroup) * kCodeGroup * M + s * kCodeGroup + i % kCodeGroup] = codes.data()[i * M + s];
            std::vector<float> out(nb * kCodeGroup);
            fn(lut.data(), blk.data(), nb, M, out.data());
            out.resize(n);
            return to_numpy(std::move(out), {py::ssize_t(n)});
        },
        py::arg("lut"), py::arg("codes"), py::arg("impl"));


    m.def(
        "visited_after_queries",
        [](std::size_t n, std::size_t node, std::size_t queries) {
            // Test hook: mark `node` in one query of a VisitedTable, start `queries` more queries
            // (each marking every other node), and say whether `node` reads as visited.
            if (node >= n) throw std::invalid_argument("node must be < n");
            VisitedTable t;
            t.reset(n);
            t.insert(static_cast<uint32_t>(node));
            for (std::size_t q = 0; q < queries; ++q) {
                t.reset(n);
                for (std::size_t i = 0; i < n; ++i)
                    if (i != node) t.insert(static_cast<uint32_t>(i));
            }
            return t.visited(static_cast<uint32_t>(node));
        },
        py::arg("n"), py::arg("node"), py::arg("queries"));
}
