// Test hooks of the module: run one named kernel implementation (scalar or AVX2) directly,
// so tests can compare the implementations of the kernel table element by element.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "graph/visited.h"
#include "kernels/kernels.h"
#include "python/py_utils.h"

namespace py = pybind11;
using namespace adanns;
using namespace adanns::pyutil;

void bind_test_hooks(py::module_& m) {
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
        "rerank",
        [](int kind, FArray x, FArray Q, std::size_t w, const std::string& impl) {
            if (kind < kScanL2 || kind > kScanIPNorm) throw std::invalid_argument("bad kind");
            if (x.ndim() != 1 || Q.ndim() != 2) throw std::invalid_argument("x must be 1-D, Q 2-D");
            const std::size_t m = Q.shape(0), stride = Q.shape(1);
            if (w > stride || w > static_cast<std::size_t>(x.shape(0))) throw std::invalid_argument("w too large");
            RerankFn fn = &rerank_scalar;
            if (impl == "avx2") {
#if defined(ADANNS_HAVE_AVX2_TU)
                if (!cpu_has_avx2_fma()) throw std::runtime_error("this CPU has no AVX2/FMA");
                fn = &rerank_avx2;
#else
                throw std::runtime_error("built without the AVX2 kernels");
#endif
            } else if (impl != "scalar") {
                throw std::invalid_argument("impl must be 'scalar' or 'avx2'");
            }
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
        "adc",
        [](FArray lut, BArray codes, const std::string& impl) {
            // Test hook: row-major codes (n, m) -> sums of lut[s, code] with one kernel.
            if (lut.ndim() != 2 || lut.shape(1) != py::ssize_t(kPQKsub) || codes.ndim() != 2 ||
                codes.shape(1) != lut.shape(0))
                throw std::invalid_argument("lut (m, 256) and codes (n, m) required");
            const std::size_t n = codes.shape(0), M = codes.shape(1);
            AdcFn fn = &adc_scalar;
            if (impl == "avx2") {
#if defined(ADANNS_HAVE_AVX2_TU)
                if (!cpu_has_avx2_fma()) throw std::runtime_error("this CPU has no AVX2/FMA");
                fn = &adc_avx2;
#else
                throw std::runtime_error("built without the AVX2 kernels");
#endif
            } else if (impl != "scalar") {
                throw std::invalid_argument("impl must be 'scalar' or 'avx2'");
            }
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
