// AdamW with each CPU float32 parameter's update fused into one pass over its memory.
// torch::optim::AdamW runs about ten ATen ops per parameter tensor (weight decay, two moment
// updates, sqrt, divide, add, addcdiv, each a dispatch and a full pass): with the ~160 small
// tensors of these models that is some 1,600 dispatches per step. This is the same update,
// state and checkpoint format (it is an AdamW: its param groups, AdamWParamState and
// save/load), with the gradient-clipping coefficient folded into the same pass. Parameters
// that are not CPU float32 and contiguous (CUDA, other dtypes), or groups with amsgrad, take
// AdamW's own per-tensor ops.
#pragma once
#include <ATen/core/Tensor.h>
#include <torch/optim/adamw.h>

namespace lemur::model {

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  // One update with every gradient multiplied by grad_scale first (the clipping coefficient;
  // 1 leaves them as they are). Gradients themselves are not modified.
  void step_scaled(double grad_scale);
  torch::Tensor step(LossClosure closure = nullptr) override;
};

// sum(g^2) in double: one pass over CPU float32 contiguous memory, else ATen's reduction
// (which, on a device, waits for it).
double square_sum(const at::Tensor& g);

}  // namespace lemur::model
