// The one normalisation and squared-norm arithmetic of the core (used for data, queries,
// centroids and PQ targets alike):
//   sqnorm(v, d)     float sum of squares in dim order (centroid norms for the GEMM bias)
//   l2norm(v, d)     sqrt of a double sum of squares
//   normalize(v, d)  v *= 1 / l2norm(v) in double (denormal rows too); a zero row stays zero
#pragma once
#include <cstddef>
#include <vector>

namespace adanns {

float sqnorm(const float* v, std::size_t d);
float l2norm(const float* v, std::size_t d);
// out may equal v.
void normalize(const float* v, std::size_t d, float* out);
// n rows of d floats (row stride d) into out (may equal x); parallel over rows.
void normalize_rows(const float* x, std::size_t n, std::size_t d, float* out);
// Squared norms of k rows of d floats (row stride ld).
std::vector<float> row_sqnorms(const float* x, std::size_t k, std::size_t d, std::size_t ld);

}  // namespace adanns
