// CUDA memory-bank gather and scatter. Gather: rows::launch_gather (four 16-byte words per
// thread, narrower words when rows are not 16-byte multiples), misses written as zeros.
// Scatter: a stable radix sort of (id, position) pairs; only the last position of each run of
// equal ids writes (four words per thread likewise), so repeated ids resolve to the last
// occurrence and no two threads write one row.
#include "ops/common/cuda_rows.cuh"
#include "ops/memory_bank/cuda/memory_bank_kernel.h"

namespace lemur::cuda {
namespace {

template <typename W>
__global__ void scatter_last_kernel(W* __restrict__ bank, uint8_t* __restrict__ written,
                                    int64_t* __restrict__ last_step, const int64_t* __restrict__ sorted_ids,
                                    const int32_t* __restrict__ sorted_pos, const W* __restrict__ rows,
                                    int64_t m, int64_t words, int64_t step, rows::RowSplit split) {
  const int64_t n = m * split.per;  // per = word groups per row, at least 1: zero-width rows still set the flags
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < n;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t i, g;
    split(idx, i, g);
    const int64_t id = sorted_ids[i];
    if (i + 1 < m && sorted_ids[i + 1] == id) continue;  // a later occurrence of id wins
    const int64_t w0 = g * rows::kRowCopyWords;
    const W* src = rows + static_cast<int64_t>(sorted_pos[i]) * words;
    W v[rows::kRowCopyWords];
#pragma unroll
    for (int u = 0; u < rows::kRowCopyWords; ++u)
      if (w0 + u < words) v[u] = src[w0 + u];
#pragma unroll
    for (int u = 0; u < rows::kRowCopyWords; ++u)
      if (w0 + u < words) bank[id * words + w0 + u] = v[u];
    if (g == 0) {
      written[id] = 1;
      last_step[id] = step;
    }
  }
}

}  // namespace

void bank_gather(DType dt, const void* bank, const uint8_t* written, const int64_t* ids, void* rows,
                 uint8_t* present, int64_t m, int64_t e, void* stream) {
  if (m == 0) return;
  const int64_t elem = dt == DType::F32 ? 4 : 2;
  rows::launch_gather(bank, written, ids, rows, present, m, e * elem, static_cast<cudaStream_t>(stream));
  check_launch("bank_gather");
}

size_t bank_scatter_workspace_bytes(int64_t m, int id_bits) {
  rows::Carver c{nullptr};
  rows::carve_sort(c, m, id_bits);
  return c.used;
}

void bank_scatter(DType dt, void* bank, uint8_t* written, int64_t* last_step, const int64_t* ids,
                  const void* rows_in, int64_t m, int64_t e, int64_t step, int id_bits, void* workspace,
                  size_t workspace_bytes, void* stream) {
  if (m == 0) return;
  rows::check_size(m, "bank_scatter");
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  rows::Carver c{static_cast<char*>(workspace)};
  const rows::SortBuffers sb = rows::carve_sort(c, m, id_bits);
  if (c.used > workspace_bytes) throw std::runtime_error("bank_scatter: workspace too small");
  rows::sort_positions(sb, ids, m, id_bits, s, "bank_scatter");
  const int64_t row_bytes = e * (dt == DType::F32 ? 4 : 2);
  const int w = rows::access_bytes(row_bytes, {bank, rows_in});
  auto go = [&](auto word) {
    using W = decltype(word);
    const int64_t words = row_bytes / static_cast<int64_t>(sizeof(W));
    const int64_t groups = (words + rows::kRowCopyWords - 1) / rows::kRowCopyWords;
    const rows::RowSplit split = rows::row_split(m, groups > 0 ? groups : 1);
    scatter_last_kernel<W><<<blocks_for(m * split.per, 256), 256, 0, s>>>(
        static_cast<W*>(bank), written, last_step, sb.sorted_keys, sb.sorted_pos, static_cast<const W*>(rows_in), m,
        words, step, split);
  };
  switch (w) {
    case 16: go(uint4{}); break;
    case 8: go(uint2{}); break;
    case 4: go(uint32_t{}); break;
    case 2: go(uint16_t{}); break;
    default: go(uint8_t{}); break;
  }
  check_launch("bank_scatter");
}

}  // namespace lemur::cuda
