// Emulated cp.async (the cuda_pipeline.h primitives): a copy is only recorded when issued and
// performed when the issuing thread waits for its group, so a kernel that reads shared memory
// before __pipeline_wait_prior (or without the __syncthreads after it) sees stale or poisoned
// data here, as it could on a GPU.
#pragma once
#include <cstring>
#include <deque>
#include <vector>

#include "cuda_runtime.h"

namespace emu {
struct AsyncCopy {
  void* dst;
  const void* src;
  size_t bytes;
};
inline thread_local std::vector<AsyncCopy> t_open_group;
inline thread_local std::deque<std::vector<AsyncCopy>> t_groups;
}  // namespace emu

inline void __pipeline_memcpy_async(void* dst, const void* src, size_t bytes, size_t = 0) {
  emu::t_open_group.push_back({dst, src, bytes});
}
inline void __pipeline_commit() {
  emu::t_groups.push_back(std::move(emu::t_open_group));
  emu::t_open_group.clear();
}
inline void __pipeline_wait_prior(size_t pending) {
  while (emu::t_groups.size() > pending) {
    for (const auto& c : emu::t_groups.front()) std::memcpy(c.dst, c.src, c.bytes);
    emu::t_groups.pop_front();
  }
}
