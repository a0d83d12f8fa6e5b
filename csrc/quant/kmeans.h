// Seeded k-means on row-major float32 data (the caller passes the coarse prefix).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace adanns {

struct KMeansParams {
    std::size_t k = 0;
    int niter = 20;
    uint64_t seed = 1234;
    bool spherical = false;          // normalise centroids after each update (IP / cosine)
    bool kmeanspp = false;           // k-means++ init instead of a random sample
    std::size_t max_points_per_centroid = 256;  // training sample cap, like Faiss
};

// Returns k x d centroids. Requires n >= k. x is n x d, row-major.
std::vector<float> kmeans_train(const float* x, std::size_t n, std::size_t d, const KMeansParams& p);

// For each of the n rows of x (stride ldx, first d dims), the index of the nearest of the
// k centroids (k x d, row-major): L2 when ip == false, largest inner product otherwise.
void assign_nearest(const float* x, std::size_t n, std::size_t ldx, const float* centroids,
                    std::size_t k, std::size_t d, bool ip, int64_t* out, float* out_dist = nullptr);

// For each of the n rows of x (stride ldx, first d dims), the nprobe nearest of k centroids
// given as GEMM panels (pack_panels), best first, ties to the lower index: L2 when ip == false
// (norms: squared centroid norms), largest inner product otherwise (norms unused). NaN / inf
// distances rank last, so nprobe valid indices always come out.
void top_nearest(const float* x, std::size_t n, std::size_t ldx, const float* packed, const float* norms,
                 std::size_t k, std::size_t d, bool ip, std::size_t nprobe, int64_t* out);

// Small deterministic RNG (splitmix64): the same stream on every platform and compiler.
class Rng {
public:
    explicit Rng(uint64_t seed) : s_(seed) {}
    uint64_t next() {
        uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    uint64_t below(uint64_t n) { return next() % n; }
    double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }

private:
    uint64_t s_;
};

// m distinct indices drawn from [0, n), in increasing order.
std::vector<std::size_t> sample_indices(std::size_t n, std::size_t m, uint64_t seed);

}  // namespace adanns
