// A data-parallel process group on c10d, the distributed engine LibTorch ships: a TCPStore
// for the rendezvous (rank 0 hosts it at MASTER_ADDR:MASTER_PORT), ProcessGroupGloo for CPU
// tensors and, with backend "nccl", ProcessGroupNCCL for CUDA tensors (PyTorch's
// "cpu:gloo,cuda:nccl": control values and CPU rows keep travelling by Gloo, CUDA rows and
// gradient buckets stay on the GPU). Without NCCL, CUDA tensors are staged through host
// memory for Gloo. No transport of our own: this wraps what the model needs (bucketed
// gradient allreduce, ragged allgather, all-to-all, broadcast, barrier) and turns c10d's
// failures into errors that name the collective, the step and the rank that stopped.
#pragma once
#include <ATen/core/Tensor.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace lemur::dist {

struct GroupOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::chrono::milliseconds timeout{180000};  // of the rendezvous and of every collective
  bool global_negatives = true;  // for the model joining: SQDC over the world's batch (else each rank's own)
  bool overlap = true;           // for the model joining: gradient buckets sent during backward
  // "gloo", "nccl" (CUDA tensors by NCCL, the rest by Gloo) or "auto" (nccl when
  // device_index names a GPU and this build has NCCL, else gloo; resolved by the group).
  std::string backend = "gloo";
  // The CUDA device this rank's model lives on (-1: CPU); with nccl, two ranks of one host
  // on one device are refused at start-up (NCCL cannot run them).
  int device_index = -1;
  // Run every collective even in a world of one (a self-test of a backend on one machine or
  // one GPU: allreduce, allgather and all-to-all of one rank are identities).
  bool exercise = false;
};

// Whether this build has c10d's Gloo backend (it needs the gloo headers at build time).
bool available();
// Whether this build has c10d's NCCL backend (a CUDA LibTorch with NCCL and nccl.h).
bool nccl_available();
// options.backend with "auto" resolved: nccl when device_index names a GPU and this build
// has NCCL, else gloo.
std::string resolved_backend(const GroupOptions& options);

class ProcessGroup {
 public:
  explicit ProcessGroup(const GroupOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }
  const GroupOptions& options() const { return options_; }
  // "gloo" or "nccl" (resolved).
  const std::string& backend() const { return options_.backend; }
  // Whether a tensor on `device` travels by NCCL (else by Gloo, staged through host memory
  // when it is a CUDA tensor): where the gradient buckets should live.
  bool native_on(const at::Device& device) const;

  // Sums every tensor across ranks, in place (all in flight together). `what` names the
  // traffic.
  void allreduce_sum_(std::vector<at::Tensor>& tensors, const std::string& what);
  // Starts summing `flat` (contiguous; CPU, or CUDA with nccl) across ranks in place and returns at once;
  // wait_pending() waits for every one started. Collectives pair up by the order they are
  // started in, so every rank must start the same ones in the same order.
  void allreduce_sum_async_(const at::Tensor& flat, const std::string& what);
  void wait_pending();
  // Concatenation over ranks (rank order) of each rank's rows; ranks may hold different
  // row counts (counts[r] on return). Other dimensions and dtype must agree.
  at::Tensor allgather_rows(const at::Tensor& rows, std::vector<int64_t>* counts, const std::string& what);
  // Rows to every rank: rows [sum send_counts, ...] holds, in rank order, send_counts[r]
  // rows for rank r; returns the rows every rank sent this one, in rank order
  // (recv_counts[r] from rank r). All-to-all: what row-wise sharded tables travel by.
  at::Tensor alltoall_rows(const at::Tensor& rows, const std::vector<int64_t>& send_counts,
                           std::vector<int64_t>* recv_counts, const std::string& what);
  // One integer from every rank.
  std::vector<int64_t> allgather_values(const std::vector<int64_t>& values, const std::string& what);
  void broadcast_(std::vector<at::Tensor>& tensors, int root, const std::string& what);
  void barrier(const std::string& what);

  // The step a rank is in (1-based), kept in the store: when a collective fails, the error
  // says which rank stopped (the one behind, or rank 0 when its store is gone).
  void set_step(int64_t step);

  // Bytes this rank sent, per kind of traffic, as the algorithms send them (ring allreduce:
  // 2 (N-1)/N x size; allgather: (N-1) x own part; broadcast from the root: (N-1) x size).
  const std::map<std::string, double>& bytes_sent() const { return bytes_sent_; }
  void reset_bytes() { bytes_sent_.clear(); }

 private:
  struct Impl;
  [[noreturn]] void fail(const std::string& collective, const std::exception& e);
  // No peer to talk to: every collective is the identity (unless exercising).
  bool alone() const { return options_.world_size == 1 && !options_.exercise; }
  // The tensor as the collective needs it: contiguous, and on the host unless NCCL takes it.
  at::Tensor stage(const at::Tensor& t) const;
  void check_devices();
  GroupOptions options_;
  std::unique_ptr<Impl> impl_;
  std::map<std::string, double> bytes_sent_;
  int64_t step_ = 0;
};

}  // namespace lemur::dist
