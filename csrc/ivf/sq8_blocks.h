// The int8 scan copy of IVFIndex(scan_store="int8") in blocks of 16 rows, and its kernels.
//
// Codes as graph/sq8.h defines them (c_t = round((x_t - lo_t) / step_t); the first W = min(wide, d)
// dims in 16 bits, the others in 8), laid out per block of 16 consecutive rows of a list:
//   W dims x [16 rows x u16]          dim t of rows 0..15: bytes 32 t .. 32 t + 31
//   Q quads x [16 rows x 4 bytes]     quad k, dims W + 4k .. W + 4k + 3 of rows 0..15:
//                                     bytes 32 W + 64 k .. + 63 (Q = ceil((d - W) / 4), zero-padded)
// so the codes of a prefix w of 16 rows are one contiguous run of 32 W + 64 ceil((w - W) / 4)
// bytes, and one 64-byte load holds 4 dims of 16 rows: the lane layout of vpdpbusd, which
// multiplies them with one query's 4 codes (broadcast) into the 16 rows' sums. No reduction
// across lanes is left: the kernel's cost is the multiply-adds (a row-major copy spent as much
// again on horizontal sums). A block takes as many bytes as its 16 rows in row-major form
// (d + W each), plus the padding of the last quad.
//
// Included by the AVX2 and AVX-512 translation units: C-compatible headers only.
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace adanns {

constexpr size_t kSq8BlockRows = 16;

// Bytes of one block of d dims of which `wide` are 16-bit.
inline size_t sq8_block_bytes(size_t d, size_t wide) { return 32 * wide + 64 * ((d - wide + 3) / 4); }

// The code of dim t of row r (< 16) of a block.
inline unsigned sq8_block_code(const uint8_t* blk, size_t wide, size_t r, size_t t) {
    if (t < wide) return unsigned(blk[32 * t + 2 * r]) | (unsigned(blk[32 * t + 2 * r + 1]) << 8);
    const size_t u = t - wide;
    return blk[32 * wide + 64 * (u / 4) + 4 * r + u % 4];
}

// Encodes n rows of x (row stride `stride`, d dims) into ceil(n / 16) blocks at out; the codes
// of the rows past n in the last block are 0.
void sq8_encode_blocks(const float* x, size_t n, size_t stride, size_t d, size_t wide, const float* lo,
                       const float* step, uint8_t* out);

// One query of the tile kernels, for a prefix of w dims (hw = min(wide, w) of them wide):
//   q8:  the 8-bit dims' weights (w - hw of them) in 8 bits, zero past them up to a multiple
//        of 64 (make_sq8_query8);
//   inv_scale8: their scale;
//   qhi: the hw wide dims' weights (floats).
struct Sq8TileQuery {
    const int8_t* q8;
    float inv_scale8;
    const float* qhi;
};

// q8 and its 1 / scale from weights qw[0..w): round(qw * 127 / max |qw|); 1 (q8 all 0) when the
// weights are all 0 or not finite.
float make_sq8_query8(const float* qw, size_t w, int8_t* q8);

// The tile kernel: m queries against n rows (the first n rows of the blocks at `blocks`, each
// block_bytes long; wide <= 8, as kSq8Wide), prefix w:
//   out[i * ldo + r] = fma(c_{r,hw-1}, qhi[hw-1], ... fma(c_{r,0}, qhi[0],
//                          float(sum_{u < w - hw} q8[u] c_{r,W+u}) * inv_scale8))
// with the integer sum exact (32 bits: |q8| <= 127, codes <= 255, w < 2^16) and the float
// operations in that order, so every implementation gives the same bits.
using Sq8TileFn = void (*)(const Sq8TileQuery* const* qs, size_t m, const uint8_t* blocks, size_t wide,
                           size_t block_bytes, size_t n, size_t w, float* out, size_t ldo);
// The rows' weighted squared codes over the prefix w (the L2 scan's row term):
//   out[r] = sum_{t < w} wsq[t] * c_{r,t}^2,
// wsq indexed by dim; the caller keeps wsq[t] = 0 for w <= t < wide + 4 ceil((w - wide) / 4)
// (the kernels read whole quads).
using Sq8NormsFn = void (*)(const uint8_t* blocks, size_t wide, size_t block_bytes, size_t n, size_t w,
                            const float* wsq, float* out);

// The best for this CPU: the tile kernel in AVX-512 VNNI where the CPU has AVX-512 F/BW/VNNI and
// ADANNS_SIMD is not "avx2" or "scalar", else AVX2 where the scan kernels chose AVX2, else scalar;
// the norms in AVX2 or scalar.
Sq8TileFn sq8_tile_kernel();
Sq8NormsFn sq8_norms_kernel();
// By name ("scalar", "avx2", "vnni"; norms: no "vnni"); throws where it cannot run (test hooks).
Sq8TileFn sq8_tile_named(const char* name);
Sq8NormsFn sq8_norms_named(const char* name);
bool cpu_has_avx512_vnni();

void sq8_tile_scalar(const Sq8TileQuery* const* qs, size_t m, const uint8_t* blocks, size_t wide, size_t block_bytes,
                     size_t n, size_t w, float* out, size_t ldo);
void sq8_norms_scalar(const uint8_t* blocks, size_t wide, size_t block_bytes, size_t n, size_t w, const float* wsq,
                      float* out);
#if defined(ADANNS_HAVE_AVX2_TU)
void sq8_tile_avx2(const Sq8TileQuery* const* qs, size_t m, const uint8_t* blocks, size_t wide, size_t block_bytes,
                   size_t n, size_t w, float* out, size_t ldo);
void sq8_norms_avx2(const uint8_t* blocks, size_t wide, size_t block_bytes, size_t n, size_t w, const float* wsq,
                    float* out);
#endif
#if defined(ADANNS_HAVE_VNNI_TU)
void sq8_tile_vnni(const Sq8TileQuery* const* qs, size_t m, const uint8_t* blocks, size_t wide, size_t block_bytes,
                   size_t n, size_t w, float* out, size_t ldo);
#endif

}  // namespace adanns
