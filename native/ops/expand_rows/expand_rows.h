// Deduplicated row lookups: deduplicate ids once (unique + inverse), fetch each unique row
// once, then expand to every occurrence. The backward of the expansion sums the gradients of
// repeated rows deterministically (sort by id + segment reduce; no floating-point atomics),
// which is also the sparse gradient of an embedding table's touched rows.
#pragma once
#include <ATen/core/Tensor.h>

#include <tuple>

namespace lemur::ops {

// unique [U] (sorted ascending), inverse [M] int64 with ids == unique[inverse].
std::tuple<at::Tensor, at::Tensor> dedup_ids(const at::Tensor& ids);

// out [M, D] = src[inverse]; differentiable in src: d src[u] = sum of d out[m] over
// inverse[m] == u, accumulated in fp32, in a fixed order.
at::Tensor expand_rows(const at::Tensor& src, const at::Tensor& inverse);

// The backward on its own: grad [M, D], inverse [M] -> [num_rows, D].
at::Tensor segment_sum_rows(const at::Tensor& grad, const at::Tensor& inverse, int64_t num_rows);

}  // namespace lemur::ops

// ---- Below: the ops' internals. The *_unchecked forms take int64 contiguous indices already
// known to be in range (the autograd backward re-uses the forward's checked inverse).
namespace lemur::ops {
at::Tensor expand_rows_forward(const at::Tensor& src, const at::Tensor& inverse_checked);
at::Tensor segment_sum_rows_unchecked(const at::Tensor& grad, const at::Tensor& inverse_checked,
                                      int64_t num_rows);

namespace cpu {
std::tuple<at::Tensor, at::Tensor> dedup_ids_kernel(const at::Tensor& ids);
at::Tensor expand_rows_kernel(const at::Tensor& src, const at::Tensor& inverse);
at::Tensor segment_sum_rows_kernel(const at::Tensor& grad, const at::Tensor& inverse, int64_t num_rows);
}  // namespace cpu
}  // namespace lemur::ops
