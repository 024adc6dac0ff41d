#include "distributed/gradient_reducer.h"

#include <ATen/ATen.h>

namespace lemur::dist {

GradientReducer::GradientReducer(ProcessGroup& group, std::vector<at::Tensor> params, int64_t bucket_elements)
    : group_(group), params_(std::move(params)), active_(std::make_shared<bool>(false)) {
  bucket_of_.resize(params_.size());
  got_.assign(params_.size(), false);
  Bucket cur;
  int64_t n = 0;
  auto close = [&] {
    if (cur.members.empty()) return;
    // On the parameters' GPU when NCCL carries it (no trip through host memory), else on the host.
    const at::Device dev = params_[cur.members[0]].device();
    cur.flat = at::zeros({n}, at::TensorOptions().dtype(at::kFloat).device(group_.native_on(dev) ? dev : at::Device(at::kCPU)));
    buckets_.push_back(std::move(cur));
    cur = Bucket{};
    n = 0;
  };
  for (size_t k = params_.size(); k-- > 0;) {
    if (!cur.members.empty() && n + params_[k].numel() > bucket_elements) close();
    bucket_of_[k] = buckets_.size();
    cur.members.push_back(k);
    cur.offsets.push_back(n);
    n += params_[k].numel();
  }
  close();
  for (size_t k = 0; k < params_.size(); ++k) {
    std::shared_ptr<bool> active = active_;
    params_[k].register_hook([this, k, active](const at::Tensor& g) {
      if (*active) on_grad(k, g);
      return g;
    });
  }
}

GradientReducer::~GradientReducer() { *active_ = false; }

void GradientReducer::prepare(bool overlap) {
  for (auto& b : buckets_) {
    b.ready = 0;
    b.sent = false;
  }
  got_.assign(params_.size(), false);
  next_ = 0;
  *active_ = overlap;
}

void GradientReducer::on_grad(size_t k, const at::Tensor& grad) {
  Bucket& b = buckets_[bucket_of_[k]];
  size_t slot = 0;
  while (b.members[slot] != k) ++slot;
  if (!got_[k]) {
    b.flat.slice(0, b.offsets[slot], b.offsets[slot] + params_[k].numel()).copy_(grad.reshape({-1}));
    got_[k] = true;
    ++b.ready;
  } else {  // a second gradient for one parameter in one backward (not seen with these models)
    b.flat.slice(0, b.offsets[slot], b.offsets[slot] + params_[k].numel()).add_(grad.reshape({-1}).to(at::kFloat));
  }
  send_ready();
}

void GradientReducer::send_ready() {
  while (next_ < buckets_.size() && buckets_[next_].ready == buckets_[next_].members.size()) {
    group_.allreduce_sum_async_(buckets_[next_].flat, "dense");
    buckets_[next_].sent = true;
    ++next_;
  }
}

void GradientReducer::finish() {
  *active_ = false;
  // Parameters without a gradient here count zeros; which had one anywhere is summed too.
  at::Tensor has = at::zeros({static_cast<int64_t>(params_.size())}, at::kFloat);
  for (size_t k = 0; k < params_.size(); ++k) {
    Bucket& b = buckets_[bucket_of_[k]];
    size_t slot = 0;
    while (b.members[slot] != k) ++slot;
    at::Tensor dst = b.flat.slice(0, b.offsets[slot], b.offsets[slot] + params_[k].numel());
    if (!got_[k] && params_[k].grad().defined()) {  // not overlapped: from .grad
      dst.copy_(params_[k].grad().reshape({-1}));
      got_[k] = true;
    }
    if (got_[k]) has[static_cast<int64_t>(k)] = 1.0f;
    else if (!b.sent) dst.zero_();  // (a sent bucket had every member)
  }
  for (; next_ < buckets_.size(); ++next_) group_.allreduce_sum_async_(buckets_[next_].flat, "dense");
  group_.allreduce_sum_async_(has, "dense");
  group_.wait_pending();
  const float inv = 1.0f / static_cast<float>(group_.world_size());
  const float* h = has.data_ptr<float>();
  for (size_t k = 0; k < params_.size(); ++k) {
    at::Tensor p = params_[k];
    if (h[k] == 0.0f) {
      p.mutable_grad() = at::Tensor();
      continue;
    }
    const Bucket& b = buckets_[bucket_of_[k]];
    size_t slot = 0;
    while (b.members[slot] != k) ++slot;
    at::Tensor avg = b.flat.slice(0, b.offsets[slot], b.offsets[slot] + p.numel()).view(p.sizes()).mul(inv).to(p.device(), p.scalar_type());
    if (p.grad().defined()) p.mutable_grad().copy_(avg);
    else p.mutable_grad() = avg;
  }
}

}  // namespace lemur::dist
