#include "ops/ragged_mean_pool/ragged_mean_pool.h"

#include <ATen/ATen.h>

#include "core/js_error.h"
#include "ops/common/cuda_launch.h"
#include "ops/common/ragged.h"
#include "ops/ragged_mean_pool/cuda/ragged_mean_pool_kernel.h"

namespace lemur::ops {

namespace {
void check_values(const at::Tensor& values) {
  if (values.dim() != 2)
    throw UserError("ragged_mean_pool: values must be [N, D], got shape " + c10::str(values.sizes()));
  if (!at::isFloatingType(values.scalar_type()))
    throw UserError(std::string("ragged_mean_pool: values must be floating point, got ") +
                    c10::toString(values.scalar_type()));
}
}  // namespace

at::Tensor ragged_mean_pool_forward(const at::Tensor& values_in, const at::Tensor& offsets_in) {
  check_values(values_in);
  at::Tensor values = values_in.contiguous();
  at::Tensor offsets =
      checked_offsets(offsets_in, values.size(0), values.device(), "ragged_mean_pool");
  if (values.is_cuda()) {
#ifdef LEMUR_WITH_CUDA
    const int64_t batch = offsets.numel() - 1;
    at::Tensor out = at::empty({batch, values.size(1)}, values.options());
    cuda::ragged_mean_pool_forward(cuda::dtype_of(values), values.data_ptr(),
                                   offsets.data_ptr<int64_t>(), out.data_ptr(), batch,
                                   values.size(1), cuda::current_stream(values));
    return out;
#else
    throw UserError("ragged_mean_pool: this build of lemur has no CUDA support");
#endif
  }
  return cpu::ragged_mean_pool_forward_kernel(values, offsets);
}

at::Tensor ragged_mean_pool_backward(const at::Tensor& grad_out_in, const at::Tensor& offsets,
                                     int64_t total) {
  at::Tensor grad_out = grad_out_in.contiguous();
  if (grad_out.is_cuda()) {
#ifdef LEMUR_WITH_CUDA
    at::Tensor grad_values = at::empty({total, grad_out.size(1)}, grad_out.options());
    cuda::ragged_mean_pool_backward(cuda::dtype_of(grad_out), grad_out.data_ptr(),
                                    offsets.data_ptr<int64_t>(), grad_values.data_ptr(),
                                    grad_out.size(0), total, grad_out.size(1),
                                    cuda::current_stream(grad_out));
    return grad_values;
#else
    throw UserError("ragged_mean_pool: this build of lemur has no CUDA support");
#endif
  }
  return cpu::ragged_mean_pool_backward_kernel(grad_out, offsets, total);
}

}  // namespace lemur::ops
