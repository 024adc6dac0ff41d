// CUDA ragged_mean_pool. Forward: one block per sequence, threads stride the feature dim,
// fp32 accumulation. Backward: one thread per output element; its sequence is found by a
// binary search over offsets, so no padding and no atomics.
#include "ops/common/cuda_common.cuh"
#include "ops/ragged_mean_pool/cuda/ragged_mean_pool_kernel.h"

namespace lemur::cuda {
namespace {

template <typename T>
__global__ void mean_pool_forward_kernel(const T* __restrict__ values, const int64_t* __restrict__ offsets,
                                         T* __restrict__ out, int64_t dim) {
  const int64_t b = blockIdx.x;
  const int64_t start = offsets[b], end = offsets[b + 1];
  const float inv = end > start ? 1.0f / static_cast<float>(end - start) : 0.0f;
  for (int64_t d = threadIdx.x; d < dim; d += blockDim.x) {
    float acc = 0.f;
    for (int64_t i = start; i < end; ++i) acc += to_float(values[i * dim + d]);
    out[b * dim + d] = from_float<T>(acc * inv);
  }
}

__device__ __forceinline__ int64_t segment_of(const int64_t* offsets, int64_t batch, int64_t row) {
  int64_t lo = 0, hi = batch;  // find b with offsets[b] <= row < offsets[b+1]
  while (hi - lo > 1) {
    int64_t mid = (lo + hi) / 2;
    if (offsets[mid] <= row) lo = mid; else hi = mid;
  }
  return lo;
}

template <typename T>
__global__ void mean_pool_backward_kernel(const T* __restrict__ grad_out, const int64_t* __restrict__ offsets,
                                          T* __restrict__ grad_values, int64_t batch, int64_t total,
                                          int64_t dim) {
  const int64_t n = total * dim;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < n;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = idx / dim, d = idx % dim;
    const int64_t b = segment_of(offsets, batch, row);
    const float inv = 1.0f / static_cast<float>(offsets[b + 1] - offsets[b]);
    grad_values[idx] = from_float<T>(to_float(grad_out[b * dim + d]) * inv);
  }
}

}  // namespace

void ragged_mean_pool_forward(DType dt, const void* values, const int64_t* offsets, void* out,
                              int64_t batch, int64_t dim, void* stream) {
  if (batch == 0) return;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    int threads = dim >= 256 ? 256 : (dim >= 64 ? 64 : 32);
    mean_pool_forward_kernel<T><<<static_cast<unsigned>(batch), threads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(values), offsets, static_cast<T*>(out), dim);
  });
  check_launch("ragged_mean_pool forward");
}

void ragged_mean_pool_backward(DType dt, const void* grad_out, const int64_t* offsets,
                               void* grad_values, int64_t batch, int64_t total, int64_t dim,
                               void* stream) {
  if (total == 0 || batch == 0) return;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    mean_pool_backward_kernel<T><<<blocks_for(total * dim, 256), 256, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<const T*>(grad_out), offsets, static_cast<T*>(grad_values), batch, total, dim);
  });
  check_launch("ragged_mean_pool backward");
}

}  // namespace lemur::cuda
