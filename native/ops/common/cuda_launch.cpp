#include "ops/common/cuda_launch.h"

#ifdef LEMUR_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "core/js_error.h"

namespace lemur::cuda {

void* current_stream(const at::Tensor& on) {
  return at::cuda::getCurrentCUDAStream(on.device().index()).stream();
}

DType dtype_of(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    default:
      throw UserError(std::string("CUDA kernels take float32, float16 or bfloat16, got ") +
                      c10::toString(t.scalar_type()));
  }
}

}  // namespace lemur::cuda
#endif
