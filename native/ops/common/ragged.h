// Ragged batches: B sequences stored back to back in `values` ([N, ...]), sequence b being
// rows offsets[b] .. offsets[b+1]-1 of values. Never padded to the longest.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace lemur::ops {

// Checks offsets: 1-D integer tensor of B+1 entries, offsets[0] = 0, non-decreasing, last
// entry = `total`. Returns them as int64 on `device` (converted if needed). The message
// names `what` and the first bad position. Reading CUDA offsets back costs one sync.
at::Tensor checked_offsets(const at::Tensor& offsets, int64_t total, const at::Device& device,
                           const std::string& what);

}  // namespace lemur::ops
