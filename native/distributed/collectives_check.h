// A self-test of a process group: every collective lemur uses (allreduce, the gradient
// buckets' async allreduce, ragged and empty allgather, ragged all-to-all, broadcast,
// allgather of values, barrier) on tensors of `device`, each rank checking what it got
// against what the ranks' known inputs must give. Like NCCL's own tests, for users setting
// up a cluster; with a world of one it still runs every collective through the backend.
#pragma once
#include <c10/core/Device.h>

#include <string>
#include <vector>

#include "distributed/process_group.h"

namespace lemur::dist {

struct CollectiveCheck {
  std::string name;
  bool ok = false;
  double max_error = 0;  // largest |got - expected| (0 when shapes differ or it threw)
  std::string detail;    // what went wrong, when it did
};

struct CollectivesReport {
  std::string backend;  // resolved: gloo or nccl
  std::string device;
  int rank = 0, world_size = 1;
  std::vector<CollectiveCheck> checks;
  double seconds = 0;
};

// Joins a group with `options` (backend "auto" resolves as for a model on `device`) and
// runs the checks; stops at the first failed one (the ranks may be out of step after it).
CollectivesReport check_collectives(GroupOptions options, const c10::Device& device);

}  // namespace lemur::dist
