#include "distributed/collectives_check.h"

#include <ATen/ATen.h>

#include <chrono>
#include <functional>

#include "core/js_error.h"

namespace lemur::dist {

namespace {

// Rows whose values say who made them: value = a * 1000 + b * 10 + row, columns alike.
at::Tensor marked_rows(int64_t count, int64_t cols, int64_t a, int64_t b) {
  at::Tensor i = at::arange(count, at::kDouble).unsqueeze(1).expand({count, cols});
  return (i + static_cast<double>(a * 1000 + b * 10)).to(at::kFloat).contiguous();
}

}  // namespace

CollectivesReport check_collectives(GroupOptions options, const c10::Device& device) {
  const auto t0 = std::chrono::steady_clock::now();
  options.exercise = true;
  options.device_index = device.is_cuda() ? (device.index() < 0 ? 0 : device.index()) : -1;
  ProcessGroup g(options);
  const int n = g.world_size(), r = g.rank();
  CollectivesReport report;
  report.backend = g.backend();
  report.device = device.str();
  report.rank = r;
  report.world_size = n;
  const auto on = at::TensorOptions().device(device);

  auto compare = [](CollectiveCheck& c, const at::Tensor& got, const at::Tensor& want) {
    at::Tensor a = got.to(at::kCPU).to(at::kDouble), b = want.to(at::kCPU).to(at::kDouble);
    if (a.sizes() != b.sizes()) {
      c.detail = "shape " + c10::str(a.sizes()) + ", expected " + c10::str(b.sizes());
      return false;
    }
    if (a.numel() > 0) c.max_error = std::max(c.max_error, (a - b).abs().max().item<double>());
    if (c.max_error > 0) c.detail = "values differ by up to " + std::to_string(c.max_error);
    return c.max_error == 0;
  };
  auto run = [&](const std::string& name, const std::function<bool(CollectiveCheck&)>& body) {
    if (!report.checks.empty() && !report.checks.back().ok) return;  // out of step after a failure
    CollectiveCheck c;
    c.name = name;
    try {
      c.ok = body(c);
    } catch (const std::exception& e) {
      c.ok = false;
      c.detail = describe_exception(e);
    }
    report.checks.push_back(std::move(c));
  };
  const double tri = n * (n + 1) / 2.0;

  run("allreduce (float and int64)", [&](CollectiveCheck& c) {
    std::vector<at::Tensor> ts{(at::arange(15, at::kFloat).view({3, 5}) * (r + 1)).to(device),
                               at::full({4}, r + 1, at::kLong).to(device)};
    g.allreduce_sum_(ts, "check");
    bool ok = ts[0].device() == device && ts[1].device() == device;
    if (!ok) c.detail = "the result left " + device.str();
    return compare(c, ts[0], at::arange(15, at::kDouble).view({3, 5}) * tri) && compare(c, ts[1], at::full({4}, tri, at::kDouble)) && ok;
  });
  run("gradient buckets (async allreduce)", [&](CollectiveCheck& c) {
    // where the GradientReducer keeps them: on the GPU when the backend takes CUDA tensors
    const auto where = on.device(g.native_on(device) ? device : c10::Device(at::kCPU)).dtype(at::kFloat);
    at::Tensor a = at::full({1 << 16}, static_cast<float>(r + 1), where), b = at::ones({7}, where);
    g.allreduce_sum_async_(a, "check");
    g.allreduce_sum_async_(b, "check");
    g.wait_pending();
    return compare(c, a, at::full({1 << 16}, tri, at::kDouble)) && compare(c, b, at::full({7}, n, at::kDouble));
  });
  run("allgather (ragged rows)", [&](CollectiveCheck& c) {
    std::vector<int64_t> counts;
    at::Tensor got = g.allgather_rows(marked_rows(r + 1, 3, r, 0).to(device), &counts, "check");
    std::vector<at::Tensor> want;
    for (int q = 0; q < n; ++q) want.push_back(marked_rows(q + 1, 3, q, 0));
    bool ok = true;
    for (int q = 0; q < n; ++q) ok = ok && counts.size() == static_cast<size_t>(n) && counts[q] == q + 1;
    if (!ok) c.detail = "row counts wrong";
    return compare(c, got, at::cat(want)) && ok;
  });
  run("allgather (int64 ids, some ranks empty)", [&](CollectiveCheck& c) {
    const int64_t mine = r % 2 == 0 ? 0 : 5;
    at::Tensor ids = (at::arange(mine, at::kLong) + r * 100).to(device);
    at::Tensor got = g.allgather_rows(ids, nullptr, "check");
    std::vector<at::Tensor> want;
    for (int q = 0; q < n; ++q) want.push_back(at::arange(q % 2 == 0 ? 0 : 5, at::kLong) + q * 100);
    return compare(c, got, at::cat(want));
  });
  run("allgather (every rank empty)", [&](CollectiveCheck& c) {
    at::Tensor got = g.allgather_rows(at::zeros({0, 4}, on.dtype(at::kFloat)), nullptr, "check");
    return compare(c, got, at::zeros({0, 4}, at::kDouble));
  });
  run("all-to-all (ragged rows, some empty)", [&](CollectiveCheck& c) {
    // rank r sends (r + q) % 3 rows to rank q
    std::vector<int64_t> send(n);
    std::vector<at::Tensor> out, want;
    for (int q = 0; q < n; ++q) {
      send[q] = (r + q) % 3;
      out.push_back(marked_rows(send[q], 2, r, q));
      want.push_back(marked_rows((q + r) % 3, 2, q, r));
    }
    std::vector<int64_t> recv;
    at::Tensor got = g.alltoall_rows(at::cat(out).to(device), send, &recv, "check");
    bool ok = recv.size() == static_cast<size_t>(n);
    for (int q = 0; ok && q < n; ++q) ok = recv[q] == (q + r) % 3;
    if (!ok) c.detail = "received row counts wrong";
    return compare(c, got, at::cat(want)) && ok;
  });
  run("broadcast (from the last rank)", [&](CollectiveCheck& c) {
    std::vector<at::Tensor> ts{at::full({2, 3}, r == n - 1 ? 7.0 : -1.0, on.dtype(at::kFloat))};
    g.broadcast_(ts, n - 1, "check");
    return compare(c, ts[0], at::full({2, 3}, 7.0, at::kDouble));
  });
  run("allgather of values", [&](CollectiveCheck& c) {
    std::vector<int64_t> all = g.allgather_values({r, int64_t{r} * r}, "check");
    bool ok = all.size() == static_cast<size_t>(2 * n);
    for (int q = 0; ok && q < n; ++q) ok = all[2 * q] == q && all[2 * q + 1] == int64_t{q} * q;
    if (!ok) c.detail = "values wrong";
    return ok;
  });
  run("barrier", [&](CollectiveCheck&) {
    g.barrier("check");
    return true;
  });
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace lemur::dist
