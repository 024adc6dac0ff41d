// Launchers of the CUDA ragged_mean_pool kernels (plain CUDA, no torch). Pointers are device
// pointers; offsets are int64 [batch+1]; `stream` is a cudaStream_t.
#pragma once
#include "ops/common/cuda_launch.h"

namespace lemur::cuda {

void ragged_mean_pool_forward(DType dt, const void* values, const int64_t* offsets, void* out,
                              int64_t batch, int64_t dim, void* stream);
void ragged_mean_pool_backward(DType dt, const void* grad_out, const int64_t* offsets,
                               void* grad_values, int64_t batch, int64_t total, int64_t dim,
                               void* stream);

}  // namespace lemur::cuda
