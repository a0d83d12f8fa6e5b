// The pybind11 module adanns._core: module-level queries, then one binding file per index
// family (bind_ivf.cpp, bind_pq.cpp) and the kernel test hooks (test_hooks.cpp).
#include <pybind11/pybind11.h>

#include <string>

#include "common/cancel.h"
#include "common/parallel.h"
#include "kernels/kernels.h"

namespace py = pybind11;
using namespace adanns;

void bind_ivf(py::module_& m);         // bind_ivf.cpp
void bind_pq(py::module_& m);          // bind_pq.cpp
void bind_test_hooks(py::module_& m);  // test_hooks.cpp
void init_graph(py::module_& m);       // graph.cpp

PYBIND11_MODULE(_core, m) {
    m.doc() = "adanns C++ core";
    m.def("simd_level", []() { return std::string(kernels().name); },
          "Kernel set chosen at run time: 'avx512', 'avx2' or 'scalar'.");
    m.def("cpu_has_avx2", &cpu_has_avx2_fma);
    m.def("cpu_has_avx512f", &cpu_has_avx512f);
    m.def("max_threads", &max_threads);
    m.def("_after_fork_in_child", []() { forked_child().store(true); },
          "Called in a child made by fork() (adanns/__init__.py registers it): parallel regions run serially.");
    // An interrupted call (common/cancel.h) re-raises what the signal handler raised (KeyboardInterrupt).
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const Interrupted&) {
            if (!PyErr_Occurred()) PyErr_SetNone(PyExc_KeyboardInterrupt);
        }
    });
    bind_test_hooks(m);
    bind_ivf(m);
    bind_pq(m);
    init_graph(m);
#ifdef ADANNS_WITH_CUDA
    { void init_cuda(py::module_&); init_cuda(m); }  // csrc/python/cuda.cpp (CUDA builds only)
#endif
}
