// What C++ and the plain-CUDA kernel files share: no torch or CUDA headers here, so .cu
// files compile with nvcc alone and C++ files never see CUDA's headers.
#pragma once
#include <cstdint>

namespace lemur::cuda {

enum class DType : int { F32 = 0, F16 = 1, BF16 = 2 };

}  // namespace lemur::cuda

#ifdef LEMUR_WITH_CUDA
#include <ATen/core/Tensor.h>
namespace lemur::cuda {
// The current torch CUDA stream of the tensor's device, as a cudaStream_t.
void* current_stream(const at::Tensor& on);
DType dtype_of(const at::Tensor& t);
}  // namespace lemur::cuda
#endif
