#include "ivf/sq8_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "graph/sq8.h"
#include "kernels/kernels.h"

namespace adanns {

void sq8_encode_blocks(const float* x, size_t n, size_t stride, size_t d, size_t wide, const float* lo,
                       const float* step, uint8_t* out) {
    const size_t bb = sq8_block_bytes(d, wide), nb = (n + kSq8BlockRows - 1) / kSq8BlockRows;
    std::fill(out, out + nb * bb, uint8_t(0));
    std::vector<uint8_t> row(d + wide);  // one row's codes, row-major (sq8_encode)
    for (size_t i = 0; i < n; ++i) {
        sq8_encode(x + i * stride, d, wide, lo, step, row.data());
        uint8_t* blk = out + (i / kSq8BlockRows) * bb;
        const size_t r = i % kSq8BlockRows;
        for (size_t t = 0; t < wide; ++t) {
            blk[32 * t + 2 * r] = row[2 * t];
            blk[32 * t + 2 * r + 1] = row[2 * t + 1];
        }
        for (size_t u = 0; u + wide < d; ++u) blk[32 * wide + 64 * (u / 4) + 4 * r + u % 4] = row[2 * wide + u];
    }
}

float make_sq8_query8(const float* qw, size_t w, int8_t* q8) {
    float amax = 0.f;
    for (size_t j = 0; j < w; ++j) amax = std::max(amax, std::fabs(qw[j]));
    if (!(amax > 0.f) || !std::isfinite(amax)) {
        std::fill(q8, q8 + w, int8_t(0));
        return 1.f;
    }
    const float scale = 127.f / amax;
    for (size_t j = 0; j < w; ++j) q8[j] = static_cast<int8_t>(sq8_round_even(double(qw[j] * scale)));
    return 1.f / scale;
}

void sq8_tile_scalar(const Sq8TileQuery* const* qs, size_t m, const uint8_t* blocks, size_t wide, size_t block_bytes,
                     size_t n, size_t w, float* out, size_t ldo) {
    const size_t hw = std::min(wide, w);
    for (size_t r = 0; r < n; ++r) {
        const uint8_t* blk = blocks + (r / kSq8BlockRows) * block_bytes;
        const size_t rb = r % kSq8BlockRows;
        for (size_t i = 0; i < m; ++i) {
            int32_t s = 0;
            for (size_t u = 0; u + hw < w; ++u) s += int32_t(qs[i]->q8[u]) * int32_t(sq8_block_code(blk, wide, rb, wide + u));
            float f = float(s) * qs[i]->inv_scale8;
            for (size_t t = 0; t < hw; ++t) f = std::fma(float(sq8_block_code(blk, wide, rb, t)), qs[i]->qhi[t], f);
            out[i * ldo + r] = f;
        }
    }
}

void sq8_norms_scalar(const uint8_t* blocks, size_t wide, size_t block_bytes, size_t n, size_t w, const float* wsq,
                      float* out) {
    for (size_t r = 0; r < n; ++r) {
        const uint8_t* blk = blocks + (r / kSq8BlockRows) * block_bytes;
        float s = 0.f;
        for (size_t t = 0; t < w; ++t) {
            const float c = float(sq8_block_code(blk, wide, r % kSq8BlockRows, t));
            s += wsq[t] * (c * c);
        }
        out[r] = s;
    }
}

bool cpu_has_avx512_vnni() {
#if defined(ADANNS_HAVE_VNNI_TU)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
#else
    return false;
#endif
}

Sq8TileFn sq8_tile_kernel() {
    static const Sq8TileFn fn = [] {
        if (!kernels_use_avx2()) return Sq8TileFn(&sq8_tile_scalar);
#if defined(ADANNS_HAVE_VNNI_TU)
        const char* env = std::getenv("ADANNS_SIMD");
        if (!(env && std::strcmp(env, "avx2") == 0) && cpu_has_avx512_vnni()) return Sq8TileFn(&sq8_tile_vnni);
#endif
#if defined(ADANNS_HAVE_AVX2_TU)
        return Sq8TileFn(&sq8_tile_avx2);
#else
        return Sq8TileFn(&sq8_tile_scalar);
#endif
    }();
    return fn;
}

Sq8NormsFn sq8_norms_kernel() {
#if defined(ADANNS_HAVE_AVX2_TU)
    static const Sq8NormsFn fn = kernels_use_avx2() ? &sq8_norms_avx2 : &sq8_norms_scalar;
#else
    static const Sq8NormsFn fn = &sq8_norms_scalar;
#endif
    return fn;
}

Sq8TileFn sq8_tile_named(const char* name) {
    if (std::strcmp(name, "scalar") == 0) return &sq8_tile_scalar;
    if (std::strcmp(name, "avx2") == 0) {
#if defined(ADANNS_HAVE_AVX2_TU)
        if (cpu_has_avx2_fma()) return &sq8_tile_avx2;
#endif
        throw std::runtime_error("no AVX2/FMA kernels here");
    }
    if (std::strcmp(name, "vnni") == 0) {
#if defined(ADANNS_HAVE_VNNI_TU)
        if (cpu_has_avx512_vnni()) return &sq8_tile_vnni;
#endif
        throw std::runtime_error("no AVX-512 VNNI kernel here");
    }
    throw std::invalid_argument("impl must be 'scalar', 'avx2' or 'vnni'");
}

Sq8NormsFn sq8_norms_named(const char* name) {
    if (std::strcmp(name, "scalar") == 0) return &sq8_norms_scalar;
    if (std::strcmp(name, "avx2") == 0) {
#if defined(ADANNS_HAVE_AVX2_TU)
        if (cpu_has_avx2_fma()) return &sq8_norms_avx2;
#endif
        throw std::runtime_error("no AVX2/FMA kernels here");
    }
    throw std::invalid_argument("impl must be 'scalar' or 'avx2'");
}

}  // namespace adanns
