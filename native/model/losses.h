// Losses: BCE on the click logit, and SQDC (session-masked query-document contrastive).
#pragma once
#include <ATen/core/Tensor.h>

namespace lemur::model {

// mean binary cross-entropy of logits [B] against labels [B] in {0, 1}
at::Tensor bce_loss(const at::Tensor& logits, const at::Tensor& labels);

// SQDC over the rows with label 1:
//   -log( exp(T cos(q_i, d_i)) / sum_j A_ij exp(T cos(q_i, d_j)) ),
// A_ij = 0 when i != j and query_i == query_j (a same-query row is not a negative), else 1.
// Averaged over positive rows; 0 (with gradient graph intact) when fewer than 2 positives.
at::Tensor sqdc_loss(const at::Tensor& q, const at::Tensor& d, const at::Tensor& labels,
                     const at::Tensor& query_ids, double temperature, bool same_query_mask);

}  // namespace lemur::model
