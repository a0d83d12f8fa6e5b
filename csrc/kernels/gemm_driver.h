// The blocking of the GEMM-form kernels (kernels/distances.h), shared by their SIMD forms
// (kernels/avx2/distances.cpp, kernels/avx512/gemm_avx512.cpp): points in blocks of K::kBlock,
// each block against every panel of 16 packed centroids, in register blocks of up to K::kMR
// points (the last, partial one with a register block of its size). A form supplies
//   struct K {
//       static constexpr int kMR; static constexpr std::size_t kBlock;
//       using Ctx = ...;  // per-panel constants
//       static Ctx ctx(std::size_t panel, std::size_t k, const float* bias, float alpha, bool argmin);
//       template <int P> static void store(const float* x, std::size_t ldx, const float* pan, std::size_t d,
//                                          const Ctx&, float* out, std::size_t ldo);
//       template <int P> static void argmin(const float* x, std::size_t ldx, const float* pan, std::size_t d,
//                                           const Ctx&, float* bval, int32_t* bidx);  // 16 lanes a point
//   };
// Included only by SIMD units: everything here has internal linkage, so no unit's copy (compiled
// for its own ISA) can replace another's.
#pragma once
#include <stdint.h>

#include <cstddef>

namespace adanns {
namespace gemm_detail {
namespace {

template <int P>
struct RowCount {
    static constexpr int value = P;
};

// f(RowCount<P>{}) with P = min(rows, MR).
template <int MR, int P = MR, class F>
inline void with_row_block(std::size_t rows, F&& f) {
    if constexpr (P > 1) {
        if (rows < std::size_t(P)) return with_row_block<MR, P - 1>(rows, f);
    }
    f(RowCount<P>{});
}

template <class K>
void gemm_blocks(const float* X, std::size_t n, std::size_t ldx, const float* packed, std::size_t k, std::size_t d,
                 const float* bias, float alpha, float* out, std::size_t ldo) {
    const std::size_t np = (k + 15) / 16;
    for (std::size_t i0 = 0; i0 < n; i0 += K::kBlock) {
        const std::size_t nb = n - i0 < K::kBlock ? n - i0 : K::kBlock;
        for (std::size_t p = 0; p < np; ++p) {
            const typename K::Ctx ctx = K::ctx(p, k, bias, alpha, false);
            const float* pan = packed + p * d * 16;
            for (std::size_t r0 = 0; r0 < nb; r0 += K::kMR) {
                const float* x = X + (i0 + r0) * ldx;
                float* o = out + (i0 + r0) * ldo + p * 16;
                with_row_block<K::kMR>(nb - r0, [&](auto rows) {
                    K::template store<decltype(rows)::value>(x, ldx, pan, d, ctx, o, ldo);
                });
            }
        }
    }
}

template <class K>
void gemm_argmin_blocks(const float* X, std::size_t n, std::size_t ldx, const float* packed, std::size_t k,
                        std::size_t d, const float* bias, float alpha, int64_t* best, float* best_dist) {
    const std::size_t np = (k + 15) / 16;
    alignas(64) float bval[K::kBlock * 16];
    alignas(64) int32_t bidx[K::kBlock * 16];
    const float inf = __builtin_inff();
    for (std::size_t i0 = 0; i0 < n; i0 += K::kBlock) {
        const std::size_t nb = n - i0 < K::kBlock ? n - i0 : K::kBlock;
        for (std::size_t e = 0; e < nb * 16; ++e) {
            bval[e] = inf;
            bidx[e] = 0;
        }
        for (std::size_t p = 0; p < np; ++p) {
            const typename K::Ctx ctx = K::ctx(p, k, bias, alpha, true);
            const float* pan = packed + p * d * 16;
            for (std::size_t r0 = 0; r0 < nb; r0 += K::kMR) {
                const float* x = X + (i0 + r0) * ldx;
                with_row_block<K::kMR>(nb - r0, [&](auto rows) {
                    K::template argmin<decltype(rows)::value>(x, ldx, pan, d, ctx, bval + r0 * 16, bidx + r0 * 16);
                });
            }
        }
        // Lane l holds the first minimum among columns j = l (mod 16); the overall answer is the
        // smallest value, ties to the lowest column.
        for (std::size_t r = 0; r < nb; ++r) {
            const float* v = bval + r * 16;
            const int32_t* id = bidx + r * 16;
            float bd = inf;
            int32_t bj = -1;
            for (int l = 0; l < 16; ++l) {
                if (v[l] < bd || (v[l] == bd && bj >= 0 && id[l] < bj)) {
                    bd = v[l];
                    bj = id[l];
                }
            }
            best[i0 + r] = bj < 0 ? 0 : static_cast<int64_t>(bj);
            if (best_dist) best_dist[i0 + r] = bd;
        }
    }
}

}  // namespace
}  // namespace gemm_detail
}  // namespace adanns
