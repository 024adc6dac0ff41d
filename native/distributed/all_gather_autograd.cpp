#include "distributed/all_gather_autograd.h"

#include <torch/autograd.h>

namespace lemur::dist {

namespace {

struct AllGatherRows : torch::autograd::Function<AllGatherRows> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& rows, ProcessGroup* group,
                            const std::string& what) {
    std::vector<int64_t> counts;
    at::Tensor all = group->allgather_rows(rows.detach(), &counts, what).to(rows.device());
    int64_t offset = 0;
    for (int r = 0; r < group->rank(); ++r) offset += counts[r];
    ctx->saved_data["offset"] = offset;
    ctx->saved_data["count"] = rows.size(0);
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    ctx->saved_data["what"] = what;
    return all;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* group = reinterpret_cast<ProcessGroup*>(ctx->saved_data["group"].toInt());
    const int64_t offset = ctx->saved_data["offset"].toInt(), count = ctx->saved_data["count"].toInt();
    at::Tensor g = grads[0].contiguous().clone();  // (staged to the host by the group unless NCCL takes it)
    std::vector<at::Tensor> one{g};
    group->allreduce_sum_(one, ctx->saved_data["what"].toStringRef() + " backward");
    return {one[0].slice(0, offset, offset + count).to(grads[0].device()), at::Tensor(), at::Tensor()};
  }
};

struct AllToAllRows : torch::autograd::Function<AllToAllRows> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& rows, ProcessGroup* group,
                            const std::vector<int64_t>& send, const std::vector<int64_t>& recv, const std::string& what) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    ctx->saved_data["send"] = send;
    ctx->saved_data["recv"] = recv;
    ctx->saved_data["what"] = what;
    return group->alltoall_rows(rows.detach(), send, nullptr, what).to(rows.device());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* group = reinterpret_cast<ProcessGroup*>(ctx->saved_data["group"].toInt());
    std::vector<int64_t> send = ctx->saved_data["send"].toIntVector(), recv = ctx->saved_data["recv"].toIntVector();
    at::Tensor g = group->alltoall_rows(grads[0].contiguous(), recv, nullptr, ctx->saved_data["what"].toStringRef() + " backward");
    return {g.to(grads[0].device()), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor alltoall_with_grad(ProcessGroup& group, const at::Tensor& rows, const std::vector<int64_t>& send_counts,
                              const std::vector<int64_t>& recv_counts, const std::string& what) {
  return AllToAllRows::apply(rows, &group, send_counts, recv_counts, what);
}

at::Tensor all_gather_with_grad(ProcessGroup& group, const at::Tensor& rows, const std::string& what) {
  if (group.world_size() == 1) return rows;
  return AllGatherRows::apply(rows, &group, what);
}

}  // namespace lemur::dist
