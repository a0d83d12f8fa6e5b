// Distance kernels on prefixes of row-major float32 blocks.
//
// One kernel serves every stage (k-means assignment, coarse probing, list scan,
// rerank): it accumulates a partial distance between one query and n rows.
// An AVX2/FMA implementation and a portable scalar one exist; the choice is made
// once at run time from the CPU's features (never at compile time).
#pragma once
#include <cstddef>

namespace adanns {

// What a scan accumulates per row.
enum ScanKind : int {
    kScanL2 = 0,      // acc[i] += sum_j (q_j - x_ij)^2
    kScanIP = 1,      // acc[i] += sum_j q_j * x_ij
    kScanIPNorm = 2,  // acc[i] += sum_j q_j * x_ij ; acc_norm[i] += sum_j x_ij^2
};

// acc[i] (+ acc_norm[i]) += partial distance over the first `w` floats of
// q and of row i, where row i starts at X + i * stride (stride >= w).
// Reads exactly the w floats of each row: no over-read past a row's end.
using ScanFn = void (*)(int kind, const float* q, const float* X, std::size_t n,
                        std::size_t stride, std::size_t w, float* acc, float* acc_norm);

struct Kernels {
    ScanFn scan;
    const char* name;  // "avx2" or "scalar"
};

// Kernel table chosen at first use: AVX2/FMA when the CPU has it and the
// environment variable ADANNS_SIMD is not "scalar"; the scalar path otherwise.
const Kernels& kernels();

// Implementations (exposed for tests through the bindings).
void scan_scalar(int kind, const float* q, const float* X, std::size_t n, std::size_t stride,
                 std::size_t w, float* acc, float* acc_norm);
bool cpu_has_avx2_fma();
#if defined(ADANNS_HAVE_AVX2_TU)
void scan_avx2(int kind, const float* q, const float* X, std::size_t n, std::size_t stride,
               std::size_t w, float* acc, float* acc_norm);
#endif

}  // namespace adanns
