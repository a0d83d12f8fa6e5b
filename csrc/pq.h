// Product-quantisation kernels: the ADC (asymmetric distance computation) scan over
// 8-bit codes with a per-query lookup table, scalar and AVX2, chosen at run time.
//
// Codes of an inverted list are stored in blocks of kPQBlock rows, sub-quantiser major
// inside a block: byte [b * m * kPQBlock + s * kPQBlock + r] is the code of sub-space s
// of row b * kPQBlock + r. A partial last block is padded with code 0 (its distances are
// computed and ignored). This layout lets the AVX2 kernel widen 8 codes of one sub-space
// with one load and gather their table entries in one instruction.
//
// This header is included by the AVX2 translation unit: C-compatible headers only.
#pragma once
#include <cstddef>
#include <cstdint>

namespace adanns {

constexpr std::size_t kPQBlock = 32;  // rows per code block
constexpr std::size_t kPQKsub = 256;  // centroids per sub-quantiser (8-bit codes)

// out[b * kPQBlock + r] = sum_{s < m} lut[s * 256 + code(b, s, r)] for every row r of
// nblocks blocks, accumulated in sub-space order (identical results in every kernel).
using AdcFn = void (*)(const float* lut, const uint8_t* codes, std::size_t nblocks, std::size_t m,
                       float* out);

// out[i] = a[i] + b[i] for i < n (LUT assembly for L2 with precomputed list terms).
using AddFn = void (*)(const float* a, const float* b, std::size_t n, float* out);

struct PQKernels {
    AdcFn adc;
    AddFn add;
    const char* name;
};

// AVX2 when the CPU has AVX2/FMA and ADANNS_SIMD != "scalar"; scalar otherwise.
const PQKernels& pq_kernels();

void adc_scalar(const float* lut, const uint8_t* codes, std::size_t nblocks, std::size_t m, float* out);
void add_scalar(const float* a, const float* b, std::size_t n, float* out);
#if defined(ADANNS_HAVE_AVX2_TU)
void adc_avx2(const float* lut, const uint8_t* codes, std::size_t nblocks, std::size_t m, float* out);
void add_avx2(const float* a, const float* b, std::size_t n, float* out);
#endif

}  // namespace adanns
