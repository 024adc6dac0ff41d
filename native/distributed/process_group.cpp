#include "distributed/process_group.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/js_error.h"
#include "distributed/host.h"

#ifdef LEMUR_WITH_GLOO
#include <unistd.h>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef LEMUR_WITH_NCCL
#include <ATen/cuda/CUDAContext.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace lemur::dist {

namespace {
std::string ms(std::chrono::milliseconds t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", static_cast<double>(t.count()) / 1000.0);
  return buf;
}
}  // namespace

bool nccl_available() {
#ifdef LEMUR_WITH_NCCL
  return true;
#else
  return false;
#endif
}

std::string resolved_backend(const GroupOptions& o) {
  if (o.backend != "auto") return o.backend;
  return o.device_index >= 0 && nccl_available() ? "nccl" : "gloo";
}

#ifdef LEMUR_WITH_GLOO

bool available() { return true; }

struct ProcessGroup::Impl {
  // The rendezvous store: rank 0's TCPStore, or under torchrun the agent's (prefixed by the
  // restart attempt, as PyTorch's env:// rendezvous does).
  c10::intrusive_ptr<c10d::Store> store;
  bool agent_store = false;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  // A second group for the gradient buckets sent during backward: collectives pair up by
  // order within a group, and the buckets' order must not interleave with the backward's
  // own collectives (SQDC's, the dedup's), which could differ between ranks.
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_grad;
#ifdef LEMUR_WITH_NCCL
  // With backend "nccl": the same pair for CUDA tensors (each has its own NCCL communicator
  // and stream; order pairs up within each group as with Gloo).
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl, nccl_grad;
#endif
  std::vector<c10::intrusive_ptr<c10d::Work>> pending;
  std::string pending_what;

  bool on_nccl(const at::Tensor& t) const {
#ifdef LEMUR_WITH_NCCL
    return nccl && t.is_cuda();
#else
    return false;
#endif
  }
  // Runs `f` on the group that carries `t`: f(group) -> Work.
  template <class F>
  c10::intrusive_ptr<c10d::Work> on(const at::Tensor& t, bool grad, F&& f) {
#ifdef LEMUR_WITH_NCCL
    if (on_nccl(t)) return f(grad ? *nccl_grad : *nccl);
#endif
    return f(grad ? *pg_grad : *pg);
  }
};

bool ProcessGroup::native_on(const at::Device& device) const {
#ifdef LEMUR_WITH_NCCL
  if (impl_->nccl && device.is_cuda()) return true;
#endif
  return device.is_cpu();
}

at::Tensor ProcessGroup::stage(const at::Tensor& t) const {
  if (impl_->on_nccl(t) || t.device().is_cpu()) return t.contiguous();
  return t.to(at::kCPU).contiguous();
}

void ProcessGroup::allreduce_sum_async_(const at::Tensor& flat, const std::string& what) {
  if (alone()) return;
  try {
    std::vector<at::Tensor> one{flat};
    impl_->pending.push_back(impl_->on(flat, true, [&](auto& g) { return g.allreduce(one); }));
    impl_->pending_what = what;
    bytes_sent_[what] += 2.0 * (options_.world_size - 1) / options_.world_size * static_cast<double>(flat.numel() * flat.element_size());
  } catch (const std::exception& e) {
    fail("allreduce (" + what + ")", e);
  }
}

void ProcessGroup::wait_pending() {
  auto pending = std::move(impl_->pending);
  impl_->pending.clear();
  try {
    for (auto& w : pending) w->wait(options_.timeout);
  } catch (const std::exception& e) {
    fail("allreduce (" + impl_->pending_what + ")", e);
  }
}

ProcessGroup::ProcessGroup(const GroupOptions& asked) : options_(asked), impl_(std::make_unique<Impl>()) {
  options_.backend = resolved_backend(options_);
  const GroupOptions& o = options_;
  if (o.world_size < 1) throw UserError("distributed: worldSize must be >= 1, got " + std::to_string(o.world_size));
  if (o.rank < 0 || o.rank >= o.world_size)
    throw UserError("distributed: rank " + std::to_string(o.rank) + " is outside [0, " + std::to_string(o.world_size) + ")");
  if (o.master_port < 1 || o.master_port > 65535)
    throw UserError("distributed: masterPort must be in [1, 65535], got " + std::to_string(o.master_port));
  const std::string where = o.master_addr + ":" + std::to_string(o.master_port);
  // torchrun's agent already hosts a store at MASTER_PORT and tells its workers so: every
  // rank is then a client of it (TORCHELASTIC_USE_AGENT_STORE, as torch.distributed reads it).
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  impl_->agent_store = agent && std::string(agent) == "True";
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(o.master_port);
    so.isServer = o.rank == 0 && !impl_->agent_store;
    so.numWorkers = static_cast<size_t>(o.world_size);
    so.waitWorkers = !impl_->agent_store;
    so.timeout = o.timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
    if (impl_->agent_store) {
      const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
      impl_->store = c10::make_intrusive<c10d::PrefixStore>(std::string("/worker/attempt_") + (attempt && *attempt ? attempt : "0"), tcp);
    } else {
      impl_->store = tcp;
    }
  } catch (const std::exception& e) {
    throw UserError("distributed: rank " + std::to_string(o.rank) + " of " + std::to_string(o.world_size) +
                    " could not meet the others at " + where + " within " + ms(o.timeout) + ": " +
                    describe_exception(e) +
                    (impl_->agent_store ? " (the store of torchrun's agent)"
                     : o.rank == 0 ? " (is the port free? under torchrun, its agent hosts the store: TORCHELASTIC_USE_AGENT_STORE=True tells lemur so)"
                                   : " (is rank 0 running, and MASTER_ADDR/MASTER_PORT the same on every rank?)"));
  }
  try {
    auto opts = c10d::ProcessGroupGloo::Options::create(o.timeout);
    // Which local address the ranks' Gloo pairs use: GLOO_SOCKET_IFNAME's interface when set
    // (as in PyTorch), else the one on the route to MASTER_ADDR.
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    const std::string local = ifname && *ifname ? "" : local_address_towards(o.master_addr, o.master_port);
    if (ifname && *ifname) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (!local.empty()) opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(local));
    else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 2;
    impl_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, o.rank, o.world_size, opts);
    auto grad_store = c10::make_intrusive<c10d::PrefixStore>("lemur/grad", impl_->store);
    impl_->pg_grad = c10::make_intrusive<c10d::ProcessGroupGloo>(grad_store, o.rank, o.world_size, opts);
  } catch (const std::exception& e) {
    throw UserError("distributed: rank " + std::to_string(o.rank) + " could not connect to the other ranks (Gloo, store at " +
                    where + "): " + describe_exception(e));
  }
  if (o.backend == "nccl") {
#ifdef LEMUR_WITH_NCCL
    check_devices();
    try {
      // Blocking waits: a collective that does not finish within the timeout throws here,
      // where fail() can name the rank that stopped, instead of NCCL's watchdog aborting
      // the process (a user's TORCH_NCCL_BLOCKING_WAIT wins).
      setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
      auto nopts = c10d::ProcessGroupNCCL::Options::create();
      nopts->timeout = o.timeout;
      impl_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("lemur/nccl", impl_->store), o.rank, o.world_size, nopts);
      impl_->nccl_grad = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("lemur/nccl-grad", impl_->store), o.rank, o.world_size, nopts);
    } catch (const std::exception& e) {
      throw UserError("distributed: rank " + std::to_string(o.rank) + " could not set up NCCL (store at " + where +
                      "): " + describe_exception(e));
    }
#else
    throw UserError("distributed: backend 'nccl' was asked for, but this build of lemur has no NCCL (it needs a CUDA "
                    "LibTorch built with NCCL and nccl.h at build time): use backend 'gloo', or rebuild with "
                    "npm rebuild lemur --build-from-source on the CUDA machine");
#endif
  } else if (o.backend != "gloo") {
    throw UserError("distributed: backend must be 'gloo' or 'nccl', got '" + o.backend + "'");
  }
  if (!alone()) {
    // Where this rank runs, for fail(): a rank on this machine whose process is gone is named.
    try {
      const std::string v = process_space() + "\n" + std::to_string(getpid());
      impl_->store->set("lemur/proc/" + std::to_string(o.rank), std::vector<uint8_t>(v.begin(), v.end()));
    } catch (const std::exception& e) {
      fail("store", e);
    }
  }
  set_step(0);
}

void ProcessGroup::check_devices() {
  // NCCL cannot run two ranks on one GPU ("Duplicate GPU detected"): say so before it does,
  // naming the ranks, with the way out.
  if (options_.device_index < 0)
    throw UserError("distributed: backend 'nccl' moves CUDA tensors, but rank " + std::to_string(options_.rank) +
                    "'s model is on the CPU: use backend 'gloo' (or device 'cuda')");
  if (alone()) return;
#ifdef LEMUR_WITH_NCCL
  // The GPU's UUID, not its index: containers number the GPUs they see from 0.
  int64_t uuid[2] = {0, 0};
  std::memcpy(uuid, at::cuda::getDeviceProperties(options_.device_index)->uuid.bytes, sizeof uuid);
  std::vector<int64_t> all = allgather_values({uuid[0], uuid[1], options_.device_index}, "start-up");
  for (int r = 0; r < options_.world_size; ++r)
    for (int q = 0; q < r; ++q)
      if (all[3 * r] == all[3 * q] && all[3 * r + 1] == all[3 * q + 1])
        throw UserError("distributed: ranks " + std::to_string(q) + " and " + std::to_string(r) + " are both on one GPU (cuda:" +
                        std::to_string(all[3 * q + 2]) + " and cuda:" + std::to_string(all[3 * r + 2]) +
                        " of their processes), and NCCL needs one GPU per rank: start at most as many workers per machine "
                        "as it has GPUs (LOCAL_RANK picks the device), or use backend 'gloo', which shares a GPU by staging "
                        "through host memory");
#endif
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::set_step(int64_t step) {
  step_ = step;
  if (alone()) return;
  try {
    const std::string v = std::to_string(step);
    impl_->store->set("lemur/step/" + std::to_string(options_.rank), std::vector<uint8_t>(v.begin(), v.end()));
  } catch (const std::exception& e) {
    fail("store heartbeat", e);
  }
}

void ProcessGroup::fail(const std::string& collective, const std::exception& e) {
  // Who stopped? Rank 0 hosts the store: if it cannot be read, rank 0 is gone; otherwise the
  // rank whose step lags behind this one's is the one that never reached the collective.
  std::string who;
  try {
    // A rank on this machine whose process has exited is the answer (a collective it was in
    // fails on the others as "connection reset": every rank had reached the step).
    const std::string here = process_space();
    for (int r = 0; r < options_.world_size; ++r) {
      const std::string key = "lemur/proc/" + std::to_string(r);
      if (r == options_.rank || !impl_->store->check({key})) continue;
      auto v = impl_->store->get(key);
      const std::string s(v.begin(), v.end());
      const size_t nl = s.find('\n');
      if (nl == std::string::npos || s.substr(0, nl) != here) continue;
      const pid_t pid = static_cast<pid_t>(std::stol(s.substr(nl + 1)));
      if (!process_alive(pid)) who += " rank " + std::to_string(r) + " (pid " + std::to_string(pid) + " on this machine) has exited;";
    }
    for (int r = 0; r < options_.world_size; ++r) {
      if (r == options_.rank) continue;
      const std::string key = "lemur/step/" + std::to_string(r);
      if (!impl_->store->check({key})) {
        who += " rank " + std::to_string(r) + " never joined;";
        continue;
      }
      auto v = impl_->store->get(key);
      const int64_t s = std::stoll(std::string(v.begin(), v.end()));
      if (s < step_) who += " rank " + std::to_string(r) + " last began step " + std::to_string(s) + ";";
    }
    if (who.empty()) who = " every rank reached this step, so one of them failed inside it;";
  } catch (...) {
    who = impl_->agent_store ? " the store of torchrun's agent is unreachable;"
          : options_.rank == 0 ? " the store is gone;" : " rank 0 (which hosts the store) is unreachable: it exited or hung;";
  }
  throw UserError("distributed: " + collective + " failed on rank " + std::to_string(options_.rank) + " of " +
                  std::to_string(options_.world_size) + " in step " + std::to_string(step_) + ":" + who + " " +
                  describe_exception(e) + " (collective timeout " + ms(options_.timeout) +
                  "; the last complete checkpoint is intact: resume from it)");
}

void ProcessGroup::allreduce_sum_(std::vector<at::Tensor>& tensors, const std::string& what) {
  if (alone() || tensors.empty()) return;
  // Small tensors (step figures, statistics, SQDC's gathered gradient): the dense gradients
  // travel in the GradientReducer's buckets.
  const double share = 2.0 * (options_.world_size - 1) / options_.world_size;
  try {
    std::vector<at::Tensor> staged;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& t : tensors) {
      staged.push_back(stage(t));
      std::vector<at::Tensor> one{staged.back()};
      works.push_back(impl_->on(one[0], false, [&](auto& g) { return g.allreduce(one); }));
      bytes_sent_[what] += share * static_cast<double>(t.numel() * t.element_size());
    }
    for (auto& w : works) w->wait(options_.timeout);
    for (size_t i = 0; i < tensors.size(); ++i)
      if (!staged[i].is_same(tensors[i])) tensors[i].copy_(staged[i]);
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    fail("allreduce (" + what + ")", e);
  }
}

std::vector<int64_t> ProcessGroup::allgather_values(const std::vector<int64_t>& values, const std::string& what) {
  const int64_t n = static_cast<int64_t>(values.size());
  at::Tensor mine = at::empty({n}, at::kLong);
  for (int64_t i = 0; i < n; ++i) mine[i] = values[i];
  if (alone()) return values;
  try {
    std::vector<at::Tensor> in{mine};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < options_.world_size; ++r) out[0].push_back(at::empty({n}, at::kLong));
    impl_->pg->allgather(out, in)->wait(options_.timeout);
    bytes_sent_[what] += (options_.world_size - 1) * 8.0 * n;
    std::vector<int64_t> all;
    for (auto& t : out[0])
      for (int64_t i = 0; i < n; ++i) all.push_back(t[i].item<int64_t>());
    return all;
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    fail("allgather (" + what + ")", e);
  }
}

at::Tensor ProcessGroup::allgather_rows(const at::Tensor& rows_in, std::vector<int64_t>* counts_out, const std::string& what) {
  at::Tensor rows = stage(rows_in);
  if (alone()) {
    if (counts_out) *counts_out = {rows.size(0)};
    return rows;
  }
  std::vector<int64_t> counts = allgather_values({rows.size(0)}, what);
  if (counts_out) *counts_out = counts;
  int64_t most = 0;
  for (int64_t c : counts) most = std::max(most, c);
  std::vector<int64_t> shape = rows.sizes().vec();
  if (most == 0) {  // every rank knows: no data collective (Gloo fails on empty buffers)
    shape[0] = 0;
    return at::zeros(shape, rows.options());
  }
  shape[0] = most;
  at::Tensor padded = at::zeros(shape, rows.options());
  if (rows.size(0) > 0) padded.slice(0, 0, rows.size(0)).copy_(rows);
  try {
    std::vector<at::Tensor> in{padded};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < options_.world_size; ++r) out[0].push_back(at::empty(shape, rows.options()));
    impl_->on(padded, false, [&](auto& g) { return g.allgather(out, in); })->wait(options_.timeout);
    bytes_sent_[what] += (options_.world_size - 1) * static_cast<double>(padded.numel() * padded.element_size());
    std::vector<at::Tensor> parts;
    for (int r = 0; r < options_.world_size; ++r) parts.push_back(out[0][r].slice(0, 0, counts[r]));
    return at::cat(parts);
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    fail("allgather (" + what + ")", e);
  }
}

at::Tensor ProcessGroup::alltoall_rows(const at::Tensor& rows_in, const std::vector<int64_t>& send_counts,
                                       std::vector<int64_t>* recv_counts_out, const std::string& what) {
  const int n = options_.world_size;
  at::Tensor rows = stage(rows_in);
  if (alone()) {
    if (recv_counts_out) *recv_counts_out = {rows.size(0)};
    return rows;
  }
  try {
    at::Tensor sc = at::tensor(send_counts, at::kLong), rc = at::empty({n}, at::kLong);
    std::vector<int64_t> ones(n, 1);
    impl_->pg->alltoall_base(rc, sc, ones, ones)->wait(options_.timeout);
    std::vector<int64_t> recv(rc.data_ptr<int64_t>(), rc.data_ptr<int64_t>() + n);
    // One padding row to and from every rank: no buffer is ever empty (Gloo fails on those),
    // and a rank need not know whether the others send anything.
    std::vector<int64_t> shape = rows.sizes().vec();
    std::vector<at::Tensor> padded_in;
    std::vector<int64_t> in_splits(n), out_splits(n);
    int64_t off = 0, total = 0;
    std::vector<int64_t> pad_shape = shape;
    pad_shape[0] = 1;
    at::Tensor pad = at::zeros(pad_shape, rows.options());
    for (int r = 0; r < n; ++r) {
      padded_in.push_back(rows.slice(0, off, off + send_counts[r]));
      padded_in.push_back(pad);
      off += send_counts[r];
      in_splits[r] = send_counts[r] + 1;
      out_splits[r] = recv[r] + 1;
      total += recv[r] + 1;
    }
    at::Tensor in = at::cat(padded_in);
    shape[0] = total;
    at::Tensor out_padded = at::empty(shape, rows.options());
    impl_->on(in, false, [&](auto& g) { return g.alltoall_base(out_padded, in, out_splits, in_splits); })->wait(options_.timeout);
    std::vector<at::Tensor> parts;
    off = 0;
    for (int r = 0; r < n; ++r) {
      parts.push_back(out_padded.slice(0, off, off + recv[r]));
      off += recv[r] + 1;
    }
    at::Tensor out = at::cat(parts);
    const double row_bytes = rows.size(0) > 0 ? static_cast<double>(rows.numel() / rows.size(0) * rows.element_size())
                                              : static_cast<double>(rows.element_size());
    bytes_sent_[what] += (rows.size(0) - send_counts[options_.rank]) * row_bytes + 8.0 * (n - 1);
    if (recv_counts_out) *recv_counts_out = recv;
    return out;
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    fail("all-to-all (" + what + ")", e);
  }
}

void ProcessGroup::broadcast_(std::vector<at::Tensor>& tensors, int root, const std::string& what) {
  if (alone() || tensors.empty()) return;
  try {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    std::vector<at::Tensor> staged;
    for (auto& t : tensors) {
      staged.push_back(stage(t));
      std::vector<at::Tensor> one{staged.back()};
      c10d::BroadcastOptions bo;
      bo.rootRank = root;
      works.push_back(impl_->on(one[0], false, [&](auto& g) { return g.broadcast(one, bo); }));
      if (options_.rank == root)
        bytes_sent_[what] += (options_.world_size - 1) * static_cast<double>(t.numel() * t.element_size());
    }
    for (auto& w : works) w->wait(options_.timeout);
    for (size_t i = 0; i < tensors.size(); ++i)
      if (!staged[i].is_same(tensors[i])) tensors[i].copy_(staged[i]);
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    fail("broadcast (" + what + ")", e);
  }
}

void ProcessGroup::barrier(const std::string& what) {
  if (alone()) return;
  try {
    impl_->pg->barrier()->wait(options_.timeout);
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    fail("barrier (" + what + ")", e);
  }
}

#else  // no Gloo in this build

bool available() { return false; }
struct ProcessGroup::Impl {};
bool ProcessGroup::native_on(const at::Device& device) const { return device.is_cpu(); }
at::Tensor ProcessGroup::stage(const at::Tensor& t) const { return t; }
void ProcessGroup::check_devices() {}
void ProcessGroup::allreduce_sum_async_(const at::Tensor&, const std::string&) {}
void ProcessGroup::wait_pending() {}
ProcessGroup::ProcessGroup(const GroupOptions& o) : options_(o) {
  options_.backend = resolved_backend(o);
  if (o.backend == "nccl")
    throw UserError("distributed: backend 'nccl' was asked for, but this build of lemur has no c10d backend at all");
  if (o.world_size > 1 || o.exercise)
    throw UserError(
        "distributed: this build of lemur has no c10d Gloo backend (the gloo headers were missing when it was "
        "built): apt-get install -y libgloo-dev, then npm rebuild lemur --build-from-source");
}
ProcessGroup::~ProcessGroup() = default;
void ProcessGroup::set_step(int64_t step) { step_ = step; }
void ProcessGroup::fail(const std::string& c, const std::exception& e) { throw UserError(describe_exception(e)); }
void ProcessGroup::allreduce_sum_(std::vector<at::Tensor>&, const std::string&) {}
std::vector<int64_t> ProcessGroup::allgather_values(const std::vector<int64_t>& v, const std::string&) { return v; }
at::Tensor ProcessGroup::allgather_rows(const at::Tensor& rows, std::vector<int64_t>* counts, const std::string&) {
  if (counts) *counts = {rows.size(0)};
  return rows.to(at::kCPU);
}
void ProcessGroup::broadcast_(std::vector<at::Tensor>&, int, const std::string&) {}
at::Tensor ProcessGroup::alltoall_rows(const at::Tensor& rows, const std::vector<int64_t>&, std::vector<int64_t>* counts,
                                       const std::string&) {
  if (counts) *counts = {rows.size(0)};
  return rows.to(at::kCPU);
}
void ProcessGroup::barrier(const std::string&) {}

#endif

}  // namespace lemur::dist
