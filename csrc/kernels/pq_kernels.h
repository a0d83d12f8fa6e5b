// Product-quantisation kernels: the ADC (asymmetric distance computation) scan over
// 8-bit codes with a per-query lookup table, scalar and AVX2, chosen at run time.
//
// Codes of an inverted list are stored in code groups of kCodeGroup rows, sub-quantiser major
// inside a group: byte [b * m * kCodeGroup + s * kCodeGroup + r] is the code of sub-space s
// of row b * kCodeGroup + r. A partial last group is padded with code 0 (its distances are
// computed and ignored). This layout lets the AVX2 kernel widen 8 codes of one sub-space
// with one load and gather their table entries in one instruction.
//
// This header is included by the AVX2 translation unit: C-compatible headers only.
#pragma once
#include <cstddef>
#include <cstdint>

namespace adanns {

constexpr std::size_t kCodeGroup = 32;  // rows per code group
constexpr std::size_t kPQKsub = 256;  // centroids per sub-quantiser (8-bit codes)

// out[b * kCodeGroup + r] = sum_{s < m} lut[s * 256 + code(b, s, r)] for every row r of
// ngroups code groups, accumulated in sub-space order (identical results in every kernel).
using AdcKernel = void(const float* lut, const uint8_t* codes, std::size_t ngroups, std::size_t m, float* out);
using AdcFn = AdcKernel*;

// out[i] = a[i] + b[i] for i < n (LUT assembly for L2 with precomputed list terms).
using AddKernel = void(const float* a, const float* b, std::size_t n, float* out);
using AddFn = AddKernel*;

// Implementations (declared by their kernel's type, as in kernels/distances.h).
AdcKernel adc_scalar;
AddKernel add_scalar;
#if defined(ADANNS_HAVE_AVX2_TU)
AdcKernel adc_avx2;
AddKernel add_avx2;
#endif

}  // namespace adanns
