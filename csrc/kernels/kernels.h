// The one kernel table of the core and its one run-time SIMD choice.
//
// Every kernel has a portable scalar implementation (kernels/scalar.cpp) and an AVX2/FMA one
// (kernels/avx2/*.cpp, the only files compiled with -mavx2 -mfma). The table is chosen once,
// at first use: AVX2 when the CPU has AVX2 and FMA and the environment variable ADANNS_SIMD is
// not "scalar"; the scalar table otherwise. A new backend (another ISA) adds one column here.
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
    const char* name;          // "avx2" or "scalar"
};

const Kernels& kernels();
bool cpu_has_avx2_fma();
// The table of one implementation by name, "scalar" or "avx2", whatever kernels() chose (the
// test hooks compare them). Throws std::invalid_argument for another name, std::runtime_error
// for "avx2" in a build without the AVX2 kernels or on a CPU without AVX2/FMA.
const Kernels& kernels_named(const char* name);

}  // namespace adanns
