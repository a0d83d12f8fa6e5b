// The blocking of the GEMM-form kernels (kernels/distances.h), shared by their SIMD forms
// (kernels/avx2/distances.cpp, kernels/avx512/gemm_avx512.cpp): points in blocks of K::kBlock,
// each block against every group of K::kQ panels of 16 packed centroids (the last group with the
// panels left), in register blocks of up to K::kMR points (the last, partial one with a register
// block of its size). A form supplies
//   struct K {
//       static constexpr int kMR, kQ; static constexpr std::size_t kBlock;
//       using Ctx = ...;  // per-panel constants
//       static Ctx ctx(std::size_t panel, std::size_t k, const float* bias, float alpha, bool argmin);
//       // P points against Q consecutive panels (pan: the first; the next ones d * 16 floats on),
//       // c: their Q Ctx; output columns of panel q at out + q * 16
//       template <int P, int Q> static void store(const float* x, std::size_t ldx, const float* pan,
//                                                 std::size_t d, const Ctx* c, float* out, std::size_t ldo);
//       // running lane-wise minimum per point (16 lanes), the Q panels merged in their order
//       template <int P, int Q> static void argmin(const float* x, std::size_t ldx, const float* pan,
//                                                  std::size_t d, const Ctx* c, float* bval, int32_t* bidx);
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

// f(RowCount<P>{}) with P = min(rows, MR) (also used for a count of panels).
template <int MR, int P = MR, class F>
inline void with_row_block(std::size_t rows, F&& f) {
    if constexpr (P > 1) {
        if (rows < std::size_t(P)) return with_row_block<MR, P - 1>(rows, f);
    }
    f(RowCount<P>{});
}

// f(Q, ctx, pan) for each group of up to K::kQ panels: Q (a RowCount), their Ctx, their first panel.
template <class K, class F>
inline void for_panel_groups(const float* packed, std::size_t k, std::size_t d, const float* bias, float alpha,
                             bool argmin, F&& f) {
    const std::size_t np = (k + 15) / 16;
    for (std::size_t p = 0; p < np; p += K::kQ) {
        with_row_block<K::kQ>(np - p, [&](auto q) {
            constexpr int Q = decltype(q)::value;
            typename K::Ctx ctx[Q];
            for (int i = 0; i < Q; ++i) ctx[i] = K::ctx(p + i, k, bias, alpha, argmin);
            f(q, static_cast<const typename K::Ctx*>(ctx), packed + p * d * 16, p);
        });
    }
}

template <class K>
void gemm_blocks(const float* X, std::size_t n, std::size_t ldx, const float* packed, std::size_t k, std::size_t d,
                 const float* bias, float alpha, float* out, std::size_t ldo) {
    for (std::size_t i0 = 0; i0 < n; i0 += K::kBlock) {
        const std::size_t nb = n - i0 < K::kBlock ? n - i0 : K::kBlock;
        for_panel_groups<K>(packed, k, d, bias, alpha, false, [&](auto q, const typename K::Ctx* ctx, const float* pan,
                                                                   std::size_t p) {
            for (std::size_t r0 = 0; r0 < nb; r0 += K::kMR) {
                const float* x = X + (i0 + r0) * ldx;
                float* o = out + (i0 + r0) * ldo + p * 16;
                with_row_block<K::kMR>(nb - r0, [&](auto rows) {
                    K::template store<decltype(rows)::value, decltype(q)::value>(x, ldx, pan, d, ctx, o, ldo);
                });
            }
        });
    }
}

template <class K>
void gemm_argmin_blocks(const float* X, std::size_t n, std::size_t ldx, const float* packed, std::size_t k,
                        std::size_t d, const float* bias, float alpha, int64_t* best, float* best_dist) {
    alignas(64) float bval[K::kBlock * 16];
    alignas(64) int32_t bidx[K::kBlock * 16];
    const float inf = __builtin_inff();
    for (std::size_t i0 = 0; i0 < n; i0 += K::kBlock) {
        const std::size_t nb = n - i0 < K::kBlock ? n - i0 : K::kBlock;
        for (std::size_t e = 0; e < nb * 16; ++e) {
            bval[e] = inf;
            bidx[e] = 0;
        }
        for_panel_groups<K>(packed, k, d, bias, alpha, true, [&](auto q, const typename K::Ctx* ctx, const float* pan,
                                                                  std::size_t) {
            for (std::size_t r0 = 0; r0 < nb; r0 += K::kMR) {
                const float* x = X + (i0 + r0) * ldx;
                with_row_block<K::kMR>(nb - r0, [&](auto rows) {
                    K::template argmin<decltype(rows)::value, decltype(q)::value>(x, ldx, pan, d, ctx, bval + r0 * 16,
                                                                                  bidx + r0 * 16);
                });
            }
        });
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
