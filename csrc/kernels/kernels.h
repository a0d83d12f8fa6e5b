// The one kernel table of the core and its one run-time SIMD choice.
//
// Every kernel has a portable scalar implementation (kernels/scalar.cpp) and an AVX2/FMA one
// (kernels/avx2/*.cpp, the only files compiled with -mavx2 -mfma); the GEMM and selection kernels
// also an AVX-512F one (kernels/avx512). The table is chosen once, at first use: "avx512" (the
// AVX2 table with the AVX-512F GEMM and selection) when the CPU has AVX-512F and the environment
// variable ADANNS_SIMD is neither "avx2" nor "scalar"; "avx2" when the CPU has AVX2 and FMA and
// ADANNS_SIMD is not "scalar"; the scalar table otherwise. A new backend (another ISA) adds one
// column here.
#pragma once
#include "kernels/distances.h"
#include "kernels/pq_kernels.h"

namespace adanns {

struct Kernels {
    ScanFn scan;               // list scan on float rows
    RerankFn rerank;           // one row against several queries (the exact rerank)
    GemmFn gemm;               // many points x packed panels
    GemmArgminFn gemm_argmin;  // fused argmin (assignment)
    AdcFn adc;                 // PQ asymmetric distances over code groups
    AddFn add;                 // LUT assembly
    SelectFn select;           // indices at or under a threshold (shortlist pushes)
    KthFn kth;                 // the k-th smallest value (shortlist compactions)
    const char* name;          // "avx512", "avx2" or "scalar"
};

const Kernels& kernels();
bool cpu_has_avx2_fma();
bool cpu_has_avx512f();
// True when kernels() chose a table of AVX2 kernels ("avx2" or "avx512"): the other kernel
// families (int8 scan, graph gathers) then take their SIMD forms too.
bool kernels_use_avx2();
// The table of one implementation by name, "scalar", "avx2" or "avx512", whatever kernels() chose
// (the test hooks compare them). Throws std::invalid_argument for another name,
// std::runtime_error for one this build or CPU lacks.
const Kernels& kernels_named(const char* name);

}  // namespace adanns
