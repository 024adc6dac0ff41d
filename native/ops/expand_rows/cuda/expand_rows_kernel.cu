// CUDA expand_rows (a row gather) and its backward segment_sum_rows: a stable radix sort of
// (index, position) pairs, then per output row an ordered fp32 sum of its gradient rows.
// Rows referenced more than kSegmentChunk times (hot ids under skew) are first summed in
// chunks of kSegmentChunk by separate warps into fp32 partials, which the row's warp then adds
// in order: no floating-point atomics, the same bits on every run.
#include "ops/common/cuda_rows.cuh"
#include "ops/expand_rows/cuda/expand_rows_kernel.h"

namespace lemur::cuda {
namespace {

constexpr int kDimsPerPass = 128;  // 4 per lane

struct SegmentBuffers {
  rows::SortBuffers sort;
  int64_t* seg_start;  // [num_rows + 1]: row u's positions are sort.sorted_pos[seg_start[u] .. seg_start[u+1])
  int64_t* npart;      // [num_rows + 1]: chunks of row u (0 when it has at most kSegmentChunk)
  int64_t* pstart;     // [num_rows + 1]: exclusive prefix sums of npart
  void* scan_temp;
  size_t scan_bytes;
  float* partials;     // [max_partials, dim]
  int64_t max_partials;
};

SegmentBuffers carve(rows::Carver& c, int64_t m, int64_t num_rows, int64_t dim, int bits) {
  SegmentBuffers s{};
  s.sort = rows::carve_sort(c, m, bits);
  s.seg_start = c.take<int64_t>(num_rows + 1);
  s.npart = c.take<int64_t>(num_rows + 1);
  s.pstart = c.take<int64_t>(num_rows + 1);
  size_t scan = 0;
  cub::DeviceScan::ExclusiveSum(nullptr, scan, static_cast<const int64_t*>(nullptr), static_cast<int64_t*>(nullptr),
                                static_cast<int>(num_rows + 1));
  s.scan_temp = c.take<char>(scan);
  s.scan_bytes = scan;
  // A row with len > C positions has ceil(len / C) < 2 len / C chunks: at most 2 m / C in all.
  s.max_partials = 2 * (m / kSegmentChunk + 1);
  s.partials = c.take<float>(static_cast<size_t>(s.max_partials) * dim);
  return s;
}

__device__ __forceinline__ int64_t lower_bound(const int64_t* a, int64_t n, int64_t v) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = (lo + hi) >> 1;
    if (a[mid] < v) lo = mid + 1; else hi = mid;
  }
  return lo;
}

__global__ void segment_bounds_kernel(const int64_t* __restrict__ sorted_keys, int64_t m, int64_t num_rows,
                                      int64_t* __restrict__ seg_start, int64_t* __restrict__ npart) {
  for (int64_t u = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; u <= num_rows;
       u += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    if (u == num_rows) {
      seg_start[u] = m;
      npart[u] = 0;
      continue;
    }
    const int64_t begin = lower_bound(sorted_keys, m, u), end = lower_bound(sorted_keys, m, u + 1);
    const int64_t len = end - begin;
    seg_start[u] = begin;
    npart[u] = len > kSegmentChunk ? (len + kSegmentChunk - 1) / kSegmentChunk : 0;
  }
}

// Adds rows sorted_pos[begin .. end) of grad, dims d0 + lane + 32 t, into acc.
template <typename T>
__device__ __forceinline__ void add_rows(const T* __restrict__ grad, const int32_t* __restrict__ sorted_pos,
                                         int64_t begin, int64_t end, int64_t dim, int64_t d0, int lane,
                                         float (&acc)[4]) {
  for (int64_t i = begin; i < end; ++i) {
    const T* g = grad + static_cast<int64_t>(sorted_pos[i]) * dim;
#pragma unroll
    for (int t = 0; t < 4; ++t) {
      const int64_t x = d0 + lane + 32 * t;
      if (x < dim) acc[t] += to_float(g[x]);
    }
  }
}

template <typename T>
__global__ void segment_partial_kernel(const T* __restrict__ grad, const int32_t* __restrict__ sorted_pos,
                                       const int64_t* __restrict__ seg_start, const int64_t* __restrict__ pstart,
                                       int64_t num_rows, float* __restrict__ partials, int64_t max_partials,
                                       int64_t dim) {
  const int lane = threadIdx.x & 31;
  const int64_t total = pstart[num_rows];
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
       p < total && p < max_partials; p += warps) {
    // The row u with pstart[u] <= p < pstart[u + 1].
    int64_t lo = 0, hi = num_rows;
    while (hi - lo > 1) {
      const int64_t mid = (lo + hi) >> 1;
      if (pstart[mid] <= p) lo = mid; else hi = mid;
    }
    const int64_t begin = seg_start[lo] + (p - pstart[lo]) * kSegmentChunk;
    const int64_t end = min(begin + kSegmentChunk, seg_start[lo + 1]);
    for (int64_t d0 = 0; d0 < dim; d0 += kDimsPerPass) {
      float acc[4] = {0.f, 0.f, 0.f, 0.f};
      add_rows(grad, sorted_pos, begin, end, dim, d0, lane, acc);
#pragma unroll
      for (int t = 0; t < 4; ++t) {
        const int64_t x = d0 + lane + 32 * t;
        if (x < dim) partials[p * dim + x] = acc[t];
      }
    }
  }
}

template <typename T>
__global__ void segment_final_kernel(const T* __restrict__ grad, const int32_t* __restrict__ sorted_pos,
                                     const int64_t* __restrict__ seg_start, const int64_t* __restrict__ pstart,
                                     const float* __restrict__ partials, T* __restrict__ out, int64_t num_rows,
                                     int64_t dim) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); u < num_rows;
       u += warps) {
    const int64_t begin = seg_start[u], end = seg_start[u + 1];
    const bool chunked = end - begin > kSegmentChunk;
    for (int64_t d0 = 0; d0 < dim; d0 += kDimsPerPass) {
      float acc[4] = {0.f, 0.f, 0.f, 0.f};
      if (!chunked) {
        add_rows(grad, sorted_pos, begin, end, dim, d0, lane, acc);
      } else {
        for (int64_t p = pstart[u]; p < pstart[u + 1]; ++p) {
#pragma unroll
          for (int t = 0; t < 4; ++t) {
            const int64_t x = d0 + lane + 32 * t;
            if (x < dim) acc[t] += partials[p * dim + x];
          }
        }
      }
#pragma unroll
      for (int t = 0; t < 4; ++t) {
        const int64_t x = d0 + lane + 32 * t;
        if (x < dim) out[u * dim + x] = from_float<T>(acc[t]);
      }
    }
  }
}

}  // namespace

void gather_rows(const void* src, const int64_t* index, void* out, int64_t m, int64_t row_bytes, void* stream) {
  if (m == 0 || row_bytes == 0) return;
  rows::launch_gather(src, nullptr, index, out, nullptr, m, row_bytes, static_cast<cudaStream_t>(stream));
  check_launch("expand_rows");
}

size_t segment_sum_workspace_bytes(int64_t m, int64_t num_rows, int64_t dim, int index_bits) {
  rows::Carver c{nullptr};
  carve(c, m, num_rows, dim, index_bits);
  return c.used;
}

void segment_sum_rows(DType dt, const void* grad, const int64_t* index, void* out, int64_t m, int64_t num_rows,
                      int64_t dim, int index_bits, void* workspace, size_t workspace_bytes, void* stream) {
  if (m == 0 || num_rows == 0 || dim == 0) return;
  rows::check_size(m, "segment_sum_rows");
  if (num_rows >= INT32_MAX) throw std::runtime_error("segment_sum_rows: more than 2^31 - 2 rows are not supported");
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  rows::Carver c{static_cast<char*>(workspace)};
  const SegmentBuffers b = carve(c, m, num_rows, dim, index_bits);
  if (c.used > workspace_bytes) throw std::runtime_error("segment_sum_rows: workspace too small");
  rows::sort_positions(b.sort, index, m, index_bits, s, "segment_sum_rows");
  segment_bounds_kernel<<<blocks_for(num_rows + 1, 256), 256, 0, s>>>(b.sort.sorted_keys, m, num_rows, b.seg_start,
                                                                      b.npart);
  size_t scan = b.scan_bytes;
  cudaError_t err = cub::DeviceScan::ExclusiveSum(b.scan_temp, scan, b.npart, b.pstart, static_cast<int>(num_rows + 1), s);
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("segment_sum_rows: scan failed: ") + cudaGetErrorString(err));
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    segment_partial_kernel<T><<<blocks_for(b.max_partials * 32, 256), 256, 0, s>>>(
        static_cast<const T*>(grad), b.sort.sorted_pos, b.seg_start, b.pstart, num_rows, b.partials, b.max_partials, dim);
    segment_final_kernel<T><<<blocks_for(num_rows * 32, 256), 256, 0, s>>>(
        static_cast<const T*>(grad), b.sort.sorted_pos, b.seg_start, b.pstart, b.partials, static_cast<T*>(out),
        num_rows, dim);
  });
  check_launch("segment_sum_rows");
}

}  // namespace lemur::cuda
