// Launchers of the CUDA expand_rows kernels (plain CUDA, no torch). Pointers are device
// pointers, indices int64 already checked to lie in range; `stream` is a cudaStream_t.
#pragma once
#include <cstddef>

#include "ops/common/cuda_launch.h"

namespace lemur::cuda {

// out [m, dim] = src[index]; rows of `row_bytes` bytes (any dtype).
void gather_rows(const void* src, const int64_t* index, void* out, int64_t m, int64_t row_bytes,
                 void* stream);

// out [num_rows, dim] (dtype dt) = sum of grad[i] over index[i] == u, in fp32, deterministic
// and without floating-point atomics: (index, position) pairs are stably radix-sorted on the low
// `index_bits` bits; rows with more than kSegmentChunk occurrences are summed in chunks into
// fp32 partials first, then each output row adds its partials in order. `workspace` holds
// segment_sum_workspace_bytes(m, num_rows, dim, index_bits) bytes.
constexpr int kSegmentChunk = 64;
size_t segment_sum_workspace_bytes(int64_t m, int64_t num_rows, int64_t dim, int index_bits);
void segment_sum_rows(DType dt, const void* grad, const int64_t* index, void* out, int64_t m,
                      int64_t num_rows, int64_t dim, int index_bits, void* workspace,
                      size_t workspace_bytes, void* stream);

}  // namespace lemur::cuda
