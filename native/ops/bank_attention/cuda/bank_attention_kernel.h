// Launchers of the CUDA bank_attention kernels (plain CUDA, no torch). Pointers are device
// pointers; offsets and tile tables are int64 [batch+1]; `stream` is a cudaStream_t. Queries
// are the flattened [Tq * H, E] rows (q_row_offsets = q_offsets * H): all heads of a sample
// share its keys, so one block reads each bank row once for up to 64 query rows.
#pragma once
#include "ops/common/cuda_launch.h"

namespace lemur::cuda {

struct BankAttentionLaunch {
  DType q_dtype;     // of q, out and dq
  DType bank_dtype;  // of bank
  const void* q;     // [Tq * H, E]
  const void* bank;  // [N, E]
  const uint8_t* written;  // [N]
  const int64_t* ids;      // [Tk], all in [0, N) (checked by the caller)
  const int64_t* q_row_offsets;
  const int64_t* k_offsets;
  int64_t batch, e;  // e <= 128
  int64_t total_rows;  // Tq * H
  float scale;
};

// out [Tq * H, E], lse [Tq * H] float32. q_tiles: prefix sums of ceil(rows_b / rows_per_block)
// with rows_per_block = attention_query_rows_per_block(q_dtype, bank_dtype, E, E, longest
// row run) (ragged_attention_kernel.h), the same for the backward.
void bank_attention_forward(const BankAttentionLaunch& a, const int64_t* q_tiles,
                            int64_t num_q_tiles, int rows_per_block, void* out, float* lse,
                            void* stream);
// dq [Tq * H, E], every element written; dd: scratch float [Tq * H]. Each dq row is owned by
// one block: deterministic, no atomics.
void bank_attention_backward(const BankAttentionLaunch& a, const int64_t* q_tiles,
                             int64_t num_q_tiles, int rows_per_block, const void* out,
                             const void* grad_out, const float* lse, float* dd, void* dq,
                             void* stream);

}  // namespace lemur::cuda
