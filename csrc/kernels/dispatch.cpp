#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "kernels/kernels.h"

namespace adanns {

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

bool cpu_has_avx512f() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

static const Kernels kScalar{&scan_scalar, &rerank_scalar, &gemm_scalar, &gemm_argmin_scalar, &adc_scalar, &add_scalar,
                             &select_le_scalar, &kth_scalar, "scalar"};
#if defined(ADANNS_HAVE_AVX2_TU)
static const Kernels kAvx2{&scan_avx2, &rerank_avx2, &gemm_avx2, &gemm_argmin_avx2, &adc_avx2, &add_avx2, &select_le_avx2,
                           &kth_avx2, "avx2"};
#endif
#if defined(ADANNS_HAVE_AVX2_TU) && defined(ADANNS_HAVE_VNNI_TU)
// The AVX2 table with the AVX-512F GEMM kernels (twice the FMA width: the coarse probe and the
// assignments of k-means and add) and selection kernels (16 lanes and register compress).
static const Kernels kAvx512{&scan_avx2, &rerank_avx2, &gemm_avx512, &gemm_argmin_avx512, &adc_avx2, &add_avx2,
                             &select_le_avx512, &kth_avx512, "avx512"};
#endif

static Kernels choose_kernels() {
    const char* env = std::getenv("ADANNS_SIMD");
    const bool force_scalar = env != nullptr && std::strcmp(env, "scalar") == 0;
    const bool force_avx2 = env != nullptr && std::strcmp(env, "avx2") == 0;
#if defined(ADANNS_HAVE_AVX2_TU) && defined(ADANNS_HAVE_VNNI_TU)
    if (!force_scalar && !force_avx2 && cpu_has_avx512f()) return kAvx512;
#endif
#if defined(ADANNS_HAVE_AVX2_TU)
    if (!force_scalar && cpu_has_avx2_fma()) return kAvx2;
#endif
    (void)force_avx2;
    (void)force_scalar;
    return kScalar;
}

const Kernels& kernels() {
    static const Kernels k = choose_kernels();  // thread-safe initialisation (C++11)
    return k;
}

bool kernels_use_avx2() { return std::strcmp(kernels().name, "scalar") != 0; }

const Kernels& kernels_named(const char* name) {
    if (std::strcmp(name, "scalar") == 0) return kScalar;
    if (std::strcmp(name, "avx512") == 0) {
#if defined(ADANNS_HAVE_AVX2_TU) && defined(ADANNS_HAVE_VNNI_TU)
        if (!cpu_has_avx512f()) throw std::runtime_error("this CPU has no AVX-512F");
        return kAvx512;
#else
        throw std::runtime_error("built without the AVX-512 kernels");
#endif
    }
    if (std::strcmp(name, "avx2") != 0) throw std::invalid_argument("impl must be 'scalar', 'avx2' or 'avx512'");
#if defined(ADANNS_HAVE_AVX2_TU)
    if (!cpu_has_avx2_fma()) throw std::runtime_error("this CPU has no AVX2/FMA");
    return kAvx2;
#else
    throw std::runtime_error("built without the AVX2 kernels");
#endif
}

}  // namespace adanns
