// Dense gradients averaged across ranks while backward still runs (what DDP's Reducer does):
// parameters are grouped into buckets in reverse order (roughly the order backward produces
// their gradients); a hook on each parameter copies its gradient into its bucket as soon as
// autograd has it, and a full bucket is sent off at once, in bucket order on every rank so
// the collectives pair up. finish() sends what is left (parameters without a gradient on
// this rank count zeros), waits, and writes the averages into .grad; a parameter that got no
// gradient on any rank keeps none.
#pragma once
#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "distributed/process_group.h"

namespace lemur::dist {

class GradientReducer {
 public:
  GradientReducer(ProcessGroup& group, std::vector<at::Tensor> params, int64_t bucket_elements = int64_t{1} << 18);
  ~GradientReducer();
  // The parameters it was built for (those requiring gradients when it was built).
  const std::vector<at::Tensor>& params() const { return params_; }
  // Before backward. overlap: buckets are sent as they fill during backward; else all of
  // them after it, from .grad (the same sums either way).
  void prepare(bool overlap);
  void finish();  // after backward

 private:
  struct Bucket {
    std::vector<size_t> members;  // parameter indices
    std::vector<int64_t> offsets;
    at::Tensor flat;              // float32
    size_t ready = 0;
    bool sent = false;
  };
  void on_grad(size_t param, const at::Tensor& grad);
  void send_ready();

  ProcessGroup& group_;
  std::vector<at::Tensor> params_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;
  std::vector<bool> got_;
  size_t next_ = 0;  // the next bucket to send
  std::shared_ptr<bool> active_;  // hooks outlive nothing: they check this
};

}  // namespace lemur::dist
