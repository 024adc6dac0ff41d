// What C++ and the plain-CUDA kernel files share: no torch or CUDA headers here, so .cu
// files compile with nvcc alone and C++ files never see CUDA's headers.
#pragma once
#include <cstdint>

namespace lemur::cuda {

enum class DType : int { F32 = 0, F16 = 1, BF16 = 2 };

// Whether the attention kernels run on tensor cores: q, k, v of one 16-bit dtype, head dims
// multiples of 16 and at most 128. The one rule for the host's tile shapes and the launchers.
inline bool attention_uses_tensor_cores(DType q, DType kv, int64_t d, int64_t dv) {
  return q == kv && q != DType::F32 && d % 16 == 0 && dv % 16 == 0 && d <= 128 && dv <= 128;
}

}  // namespace lemur::cuda

#ifdef LEMUR_WITH_CUDA
#include <ATen/core/Tensor.h>
namespace lemur::cuda {
// The current torch CUDA stream of the tensor's device, as a cudaStream_t.
void* current_stream(const at::Tensor& on);
DType dtype_of(const at::Tensor& t);
}  // namespace lemur::cuda
#endif
