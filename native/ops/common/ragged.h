// Ragged batches: B sequences stored back to back in `values` ([N, ...]), sequence b being
// rows offsets[b] .. offsets[b+1]-1 of values. Never padded to the longest.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace lemur::ops {

// Checks offsets: 1-D integer tensor of B+1 entries, offsets[0] = 0, non-decreasing, last
// entry = `total`. Returns them as int64 on `device` (converted if needed). The message
// names `what`, the argument (`name`, e.g. "q_offsets"), the first bad position and the tensor
// whose rows they index (`rows_of`). Reading CUDA offsets back costs one sync.
at::Tensor checked_offsets(const at::Tensor& offsets, int64_t total, const at::Device& device,
                           const std::string& what, const std::string& name = "offsets",
                           const std::string& rows_of = "values");

// For kernels that split each sequence into tiles of `tile` rows (one block per tile): the
// prefix sums of the number of tiles per sequence ([B+1] int64, on `device`) and their total,
// from host offsets.
struct TileTable {
  at::Tensor prefix;
  int64_t count;
};
TileTable tile_table(const at::Tensor& offsets_cpu, int64_t tile, const at::Device& device);
// The longest sequence of host offsets (0 for an empty batch).
int64_t max_length(const at::Tensor& offsets_cpu);

}  // namespace lemur::ops
