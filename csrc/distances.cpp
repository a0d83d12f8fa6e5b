#include "distances.h"

#include <cstdlib>
#include <cstring>

namespace adanns {

void scan_scalar(int kind, const float* q, const float* X, std::size_t n, std::size_t stride,
                 std::size_t w, float* acc, float* acc_norm) {
    for (std::size_t i = 0; i < n; ++i) {
        const float* x = X + i * stride;
        float s = 0.f;
        if (kind == kScanL2) {
            for (std::size_t j = 0; j < w; ++j) {
                const float d = q[j] - x[j];
                s += d * d;
            }
        } else {
            float nn = 0.f;
            for (std::size_t j = 0; j < w; ++j) {
                s += q[j] * x[j];
                nn += x[j] * x[j];
            }
            if (kind == kScanIPNorm) acc_norm[i] += nn;
        }
        acc[i] += s;
    }
}

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

static Kernels choose_kernels() {
    const char* env = std::getenv("ADANNS_SIMD");
    const bool force_scalar = env != nullptr && std::strcmp(env, "scalar") == 0;
#if defined(ADANNS_HAVE_AVX2_TU)
    if (!force_scalar && cpu_has_avx2_fma()) return Kernels{&scan_avx2, "avx2"};
#endif
    (void)force_scalar;
    return Kernels{&scan_scalar, "scalar"};
}

const Kernels& kernels() {
    static const Kernels k = choose_kernels();  // thread-safe initialisation (C++11)
    return k;
}

}  // namespace adanns
