// Launchers of the CUDA ragged_attention kernels (plain CUDA, no torch). Pointers are device
// pointers; offsets and tile tables are int64 [batch+1]; `stream` is a cudaStream_t.
#pragma once
#include "ops/common/cuda_launch.h"

namespace lemur::cuda {

// Query rows handled by one block of the CUDA-core forward and dq kernels, for the longest
// query run: 8 per warp, 1 to 8 warps.
inline int attention_rows_per_block(int64_t max_rows) {
  int64_t warps = (max_rows + 7) / 8;
  warps = warps < 1 ? 1 : (warps > 8 ? 8 : warps);
  return static_cast<int>(warps * 8);
}
// Query rows per block of the forward and dq kernels: the tensor-core kernels
// (attention_uses_tensor_cores) take 16 per warp, 1 to 4 warps; the CUDA-core ones as above.
// Both passes' tile tables (ops::tile_table) are built with this.
inline int attention_query_rows_per_block(DType q, DType kv, int64_t d, int64_t dv, int64_t max_rows) {
  if (!attention_uses_tensor_cores(q, kv, d, dv)) return attention_rows_per_block(max_rows);
  int64_t warps = (max_rows + 15) / 16;
  warps = warps < 1 ? 1 : (warps > 4 ? 4 : warps);
  return static_cast<int>(warps * 16);
}
// Keys handled by one block of the dk/dv kernel.
constexpr int kAttentionKeysPerBlock = 32;

struct RaggedAttentionLaunch {
  DType dtype;            // of q, k, v, out and the gradients
  const void* q;          // [Tq, H, D]
  const void* k;          // [Tk, H, D]
  const void* v;          // [Tk, H, Dv]
  const uint8_t* key_mask;  // [Tk] (0 = masked) or nullptr
  const int64_t* q_offsets;
  const int64_t* k_offsets;
  int64_t batch, heads, d, dv;  // d, dv <= 128
  int64_t total_q, total_k;     // Tq, Tk
  float scale;
};

// out [Tq, H, Dv], lse [Tq, H] (float32; -inf for a query without keys). q_tiles: prefix sums
// of ceil(nq_b / rows_per_block), rows_per_block = attention_query_rows_per_block(...).
void ragged_attention_forward(const RaggedAttentionLaunch& a, const int64_t* q_tiles,
                              int64_t num_q_tiles, int rows_per_block, void* out, float* lse,
                              void* stream);

// dq [Tq, H, D], dk [Tk, H, D], dv [Tk, H, Dv], every element written. dd: scratch float [Tq, H].
// q_tiles as for the forward; k_tiles: prefix sums of ceil(nk_b / kAttentionKeysPerBlock). Deterministic: each output
// element is summed by one thread (or one warp's tensor-core accumulator) in a fixed order.
void ragged_attention_backward(const RaggedAttentionLaunch& a, const int64_t* q_tiles,
                               int64_t num_q_tiles, int rows_per_block, const int64_t* k_tiles,
                               int64_t num_k_tiles, const void* out, const void* grad_out,
                               const float* lse, float* dd, void* dq, void* dk, void* dv,
                               void* stream);

}  // namespace lemur::cuda
