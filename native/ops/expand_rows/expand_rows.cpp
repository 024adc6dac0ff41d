#include "ops/expand_rows/expand_rows.h"

#include <ATen/ATen.h>

#include "core/js_error.h"
#include "ops/common/cuda_launch.h"
#include "ops/common/ids.h"
#include "ops/expand_rows/cuda/expand_rows_kernel.h"

namespace lemur::ops {

std::tuple<at::Tensor, at::Tensor> dedup_ids(const at::Tensor& ids_in) {
  if (ids_in.dim() != 1)
    throw UserError("dedup_ids: ids must be 1-D, got shape " + c10::str(ids_in.sizes()));
  if (ids_in.scalar_type() != at::kLong && ids_in.scalar_type() != at::kInt)
    throw UserError("dedup_ids: ids must be int64 (or int32), got " +
                    std::string(c10::toString(ids_in.scalar_type())));
  at::Tensor ids = ids_in.to(at::kLong).contiguous();
  if (ids.is_cuda()) {
    // Sort-based on the device (torch's radix sort): unique ascending, inverse per position.
    auto result = at::_unique2(ids, /*sorted=*/true, /*return_inverse=*/true, /*return_counts=*/false);
    return {std::get<0>(result), std::get<1>(result).reshape({ids.numel()})};
  }
  return cpu::dedup_ids_kernel(ids);
}

at::Tensor expand_rows_forward(const at::Tensor& src_in, const at::Tensor& inverse) {
  at::Tensor src = src_in.contiguous();
  if (src.is_cuda()) {
#ifdef LEMUR_WITH_CUDA
    at::Tensor out = at::empty({inverse.numel(), src.size(1)}, src.options());
    if (inverse.numel() > 0 && src.size(1) > 0)
      cuda::gather_rows(src.data_ptr(), inverse.data_ptr<int64_t>(), out.data_ptr(), inverse.numel(),
                        src.size(1) * src.element_size(), cuda::current_stream(src));
    return out;
#else
    throw UserError("expand_rows: this build of lemur has no CUDA support");
#endif
  }
  return cpu::expand_rows_kernel(src, inverse);
}

at::Tensor segment_sum_rows_unchecked(const at::Tensor& grad_in, const at::Tensor& inverse,
                                      int64_t num_rows) {
  at::Tensor grad = grad_in.contiguous();
  const int64_t m = inverse.numel(), dim = grad.size(1);
  if (m == 0 || dim == 0 || num_rows == 0) return at::zeros({num_rows, dim}, grad.options());
  if (grad.is_cuda()) {
#ifdef LEMUR_WITH_CUDA
    at::Tensor out = at::empty({num_rows, dim}, grad.options());
    const int bits = bits_for(num_rows);
    const size_t bytes = cuda::segment_sum_workspace_bytes(m, num_rows, dim, bits);
    at::Tensor ws = at::empty({static_cast<int64_t>(bytes)}, grad.options().dtype(at::kByte));
    cuda::segment_sum_rows(cuda::dtype_of(grad), grad.data_ptr(), inverse.data_ptr<int64_t>(),
                           out.data_ptr(), m, num_rows, dim, bits, ws.data_ptr(), bytes,
                           cuda::current_stream(grad));
    return out;
#else
    throw UserError("segment_sum_rows: this build of lemur has no CUDA support");
#endif
  }
  return cpu::segment_sum_rows_kernel(grad, inverse, num_rows);
}

at::Tensor segment_sum_rows(const at::Tensor& grad, const at::Tensor& inverse_in, int64_t num_rows) {
  const std::string op = "segment_sum_rows";
  if (grad.dim() != 2)
    throw UserError(op + ": grad must be [M, D], got shape " + c10::str(grad.sizes()));
  if (!at::isFloatingType(grad.scalar_type()))
    throw UserError(op + ": grad must be floating point, got " +
                    std::string(c10::toString(grad.scalar_type())));
  if (grad.is_cuda() && grad.scalar_type() != at::kFloat && grad.scalar_type() != at::kHalf &&
      grad.scalar_type() != at::kBFloat16)
    throw UserError(op + ": on CUDA, grad must be float32, float16 or bfloat16, got " +
                    std::string(c10::toString(grad.scalar_type())));
  if (num_rows < 0) throw UserError(op + ": num_rows must be >= 0, got " + std::to_string(num_rows));
  if (inverse_in.device() != grad.device())
    throw UserError(op + ": inverse must be on grad's device (" + grad.device().str() + "), got " +
                    inverse_in.device().str());
  if (inverse_in.dim() != 1 || inverse_in.numel() != grad.size(0))
    throw UserError(op + ": inverse must be [M] = [" + std::to_string(grad.size(0)) +
                    "] (one entry per row of grad), got shape " + c10::str(inverse_in.sizes()));
  at::Tensor inverse = checked_ids(inverse_in, num_rows, op, "inverse");
  return segment_sum_rows_unchecked(grad, inverse, num_rows);
}

}  // namespace lemur::ops
