#include "distributed/data_parallel.h"

#include <ATen/ATen.h>

#include "core/js_error.h"
#include "ops/expand_rows/expand_rows.h"

namespace lemur::dist {

void average_table_gradients(ProcessGroup& group, model::EmbeddingTablesImpl& tables) {
  const int n = group.world_size();
  if (n == 1) return;
  auto touched = tables.touched_rows();
  const int64_t dim = tables.dim();
  // Every rank made the same lookups (same model, same code path): one entry per lookup.
  std::vector<int64_t> entries = group.allgather_values({static_cast<int64_t>(touched.size())}, "tables");
  for (int r = 0; r < n; ++r)
    if (entries[r] != static_cast<int64_t>(touched.size()))
      throw UserError("distributed: rank " + std::to_string(r) + " made " + std::to_string(entries[r]) +
                      " ID-table lookups in this step, rank " + std::to_string(group.rank()) + " made " +
                      std::to_string(touched.size()) + ": the ranks do not run the same model");
  const int64_t k = static_cast<int64_t>(touched.size());
  if (k == 0) return;
  std::vector<int64_t> sizes;
  std::vector<at::Tensor> ids, grads;
  for (auto& t : touched) {
    sizes.push_back(t.unique.size(0));
    ids.push_back(t.unique.to(at::kCPU));
    grads.push_back(t.grad.defined() ? t.grad.to(at::kCPU, at::kFloat) : at::zeros({t.unique.size(0), dim}, at::kFloat));
  }
  std::vector<int64_t> all_sizes = group.allgather_values(sizes, "tables");  // [n * k]
  at::Tensor all_ids = group.allgather_rows(at::cat(ids), nullptr, "tables");
  at::Tensor all_grads = group.allgather_rows(at::cat(grads), nullptr, "tables");
  // Rank r's block holds its k entries in order: collect entry e from every block.
  std::vector<std::vector<at::Tensor>> ent_ids(k), ent_grads(k);
  int64_t off = 0;
  for (int r = 0; r < n; ++r)
    for (int64_t e = 0; e < k; ++e) {
      const int64_t s = all_sizes[r * k + e];
      ent_ids[e].push_back(all_ids.slice(0, off, off + s));
      ent_grads[e].push_back(all_grads.slice(0, off, off + s));
      off += s;
    }
  std::vector<model::EmbeddingTablesImpl::TouchedRows> merged;
  const at::Device dev = touched[0].unique.device();
  for (int64_t e = 0; e < k; ++e) {
    auto [unique, inverse] = ops::dedup_ids(at::cat(ent_ids[e]));
    at::Tensor sum = at::zeros({unique.size(0), dim}, at::kFloat).index_add_(0, inverse, at::cat(ent_grads[e]));
    merged.push_back({touched[e].table, unique.to(dev), sum.div_(n).to(dev)});
  }
  tables.replace_touched(std::move(merged));
}

void write_bank_everywhere(ProcessGroup& group, model::MemoryBankImpl& bank, const at::Tensor& ids,
                           const at::Tensor& rows, int64_t step) {
  if (group.world_size() == 1 || bank.sharded()) {  // a sharded bank routes rows to their owners itself
    bank.write(ids, rows, step);
    return;
  }
  // Gloo has no bfloat16: rows travel as float32 and are stored in the bank's dtype.
  at::Tensor all_ids = group.allgather_rows(ids, nullptr, "bank");
  at::Tensor all_rows = group.allgather_rows(rows.detach().to(at::kFloat), nullptr, "bank");
  bank.write(all_ids.to(ids.device()), all_rows.to(rows.device()), step);
}

void broadcast_module(ProcessGroup& group, torch::nn::Module& module, const std::vector<at::Tensor>& keep) {
  if (group.world_size() == 1) return;
  at::NoGradGuard no_grad;
  auto kept = [&](const at::Tensor& t) {
    for (const auto& k : keep)
      if (k.is_same(t)) return true;
    return false;
  };
  std::vector<at::Tensor> state;
  for (auto& p : module.parameters()) state.push_back(p);
  for (auto& b : module.buffers())
    if (!kept(b)) state.push_back(b);
  group.broadcast_(state, 0, "start-up");
}

}  // namespace lemur::dist
