#include "model/losses.h"

#include <ATen/ATen.h>

#include "model/layers.h"

namespace lemur::model {

at::Tensor bce_loss(const at::Tensor& logits, const at::Tensor& labels) {
  return at::binary_cross_entropy_with_logits(logits.to(at::kFloat), labels.to(at::kFloat));
}

at::Tensor sqdc_loss(const at::Tensor& q, const at::Tensor& d, const at::Tensor& labels,
                     const at::Tensor& query_ids, double temperature, bool same_query_mask) {
  at::Tensor pos = labels.gt(0.5).nonzero().squeeze(1);
  if (pos.numel() < 2) return (q.sum() + d.sum()).to(at::kFloat) * 0.0;
  at::Tensor qp = l2_normalize(q.index_select(0, pos).to(at::kFloat));
  at::Tensor dp = l2_normalize(d.index_select(0, pos).to(at::kFloat));
  // qp dp^T as a bias-free linear: on CPU the product and its two gradients are oneDNN's
  // sgemm on LibTorch's OpenMP pool, so no step product wakes the system BLAS's own threads.
  at::Tensor logits = ops::linear(qp, dp, at::Tensor()) * temperature;  // [P, P]
  if (same_query_mask) {
    at::Tensor qid = query_ids.index_select(0, pos);
    at::Tensor same = qid.unsqueeze(1).eq(qid.unsqueeze(0));
    at::Tensor eye = at::eye(pos.numel(), same.options());
    logits = logits.masked_fill(same.logical_and(eye.logical_not()), -1e9);
  }
  at::Tensor target = at::arange(pos.numel(), pos.options());
  return at::cross_entropy_loss(logits, target);
}

}  // namespace lemur::model
