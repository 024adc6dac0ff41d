// CPU reference and implementation of ragged_mean_pool: parallel over sequences.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include "ops/ragged_mean_pool/ragged_mean_pool.h"

namespace lemur::ops::cpu {

at::Tensor ragged_mean_pool_forward_kernel(const at::Tensor& values, const at::Tensor& offsets) {
  const int64_t batch = offsets.numel() - 1, dim = values.size(1);
  at::Tensor out = at::zeros({batch, dim}, values.options());
  const int64_t* off = offsets.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, values.scalar_type(), "ragged_mean_pool_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* v = values.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, batch, 16, [&](int64_t b0, int64_t b1) {
      std::vector<acc_t> acc(dim);
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t start = off[b], end = off[b + 1];
        if (end == start) continue;
        std::fill(acc.begin(), acc.end(), acc_t(0));
        for (int64_t i = start; i < end; ++i) {
          const scalar_t* row = v + i * dim;
          for (int64_t d = 0; d < dim; ++d) acc[d] += static_cast<acc_t>(row[d]);
        }
        const acc_t inv = acc_t(1) / static_cast<acc_t>(end - start);
        for (int64_t d = 0; d < dim; ++d) o[b * dim + d] = static_cast<scalar_t>(acc[d] * inv);
      }
    });
  });
  return out;
}

at::Tensor ragged_mean_pool_backward_kernel(const at::Tensor& grad_out, const at::Tensor& offsets,
                                            int64_t total) {
  const int64_t batch = offsets.numel() - 1, dim = grad_out.size(1);
  at::Tensor grad = at::empty({total, dim}, grad_out.options());
  const int64_t* off = offsets.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad_out.scalar_type(), "ragged_mean_pool_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* g = grad_out.data_ptr<scalar_t>();
    scalar_t* gv = grad.data_ptr<scalar_t>();
    at::parallel_for(0, batch, 16, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t start = off[b], end = off[b + 1];
        if (end == start) continue;
        const acc_t inv = acc_t(1) / static_cast<acc_t>(end - start);
        for (int64_t i = start; i < end; ++i)
          for (int64_t d = 0; d < dim; ++d)
            gv[i * dim + d] = static_cast<scalar_t>(static_cast<acc_t>(g[b * dim + d]) * inv);
      }
    });
  });
  return grad;
}

}  // namespace lemur::ops::cpu
