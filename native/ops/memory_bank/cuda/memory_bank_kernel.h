// Launchers of the CUDA memory-bank kernels (plain CUDA, no torch). Pointers are device
// pointers, ids int64 already checked to lie in [0, N); `stream` is a cudaStream_t.
#pragma once
#include <cstddef>

#include "ops/common/cuda_launch.h"

namespace lemur::cuda {

// rows [m, e] = written[ids] ? bank[ids] : 0; present [m] (bool storage) = written[ids] != 0.
void bank_gather(DType dt, const void* bank, const uint8_t* written, const int64_t* ids, void* rows,
                 uint8_t* present, int64_t m, int64_t e, void* stream);

// bank[ids] = rows (same dtype), written[ids] = 1, last_step[ids] = step; for repeated ids the
// last occurrence wins: (id, position) pairs are stably radix-sorted on the low `id_bits` bits
// and only the last position of each run writes. `workspace` holds
// bank_scatter_workspace_bytes(m, id_bits) bytes.
size_t bank_scatter_workspace_bytes(int64_t m, int id_bits);
void bank_scatter(DType dt, void* bank, uint8_t* written, int64_t* last_step, const int64_t* ids,
                  const void* rows, int64_t m, int64_t e, int64_t step, int id_bits,
                  void* workspace, size_t workspace_bytes, void* stream);

}  // namespace lemur::cuda
