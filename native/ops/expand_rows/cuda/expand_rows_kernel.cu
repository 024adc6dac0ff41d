// CUDA expand_rows (a row gather) and its backward segment_sum_rows: a stable radix sort of
// (index, position) pairs, then per output row an ordered fp32 sum of its gradient rows.
// Rows referenced more than kSegmentChunk times (hot ids under skew) are first summed in
// chunks of kSegmentChunk by separate warps into fp32 partials, which the row's warp then adds
// in order: no floating-point atomics, the same bits on every run.
#include "ops/common/cuda_rows.cuh"
#include "ops/expand_rows/cuda/expand_rows_kernel.h"

namespace lemur::cuda {
namespace {

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

// A lane's share of one pass over a row. Vector layout (kVec: dim % E == 0, 16-byte aligned
// rows): lane j owns the E = 16 / sizeof(T) consecutive elements from d0 + E j, moved with one
// 16-byte access. Scalar layout: lane j owns d0 + j + 32 t, t < 4. A pass covers 32 E elements.
template <typename T, bool kVec>
struct LaneSlice {
  static constexpr int E = kVec ? static_cast<int>(16 / sizeof(T)) : 4;
  static constexpr int64_t kSpan = 32 * E;
  __device__ static int64_t elem(int64_t d0, int lane, int t) { return kVec ? d0 + lane * E + t : d0 + lane + 32 * t; }

  __device__ static void load(const T* __restrict__ row, int64_t d0, int lane, int64_t dim, float (&v)[E]) {
    if constexpr (kVec) {
      const int64_t x0 = d0 + lane * E;
      uint4 raw = make_uint4(0u, 0u, 0u, 0u);
      if (x0 < dim) raw = *reinterpret_cast<const uint4*>(row + x0);
      T parts[E];
      memcpy(parts, &raw, sizeof(raw));
#pragma unroll
      for (int t = 0; t < E; ++t) v[t] = to_float(parts[t]);
    } else {
#pragma unroll
      for (int t = 0; t < E; ++t) {
        const int64_t x = elem(d0, lane, t);
        v[t] = x < dim ? to_float(row[x]) : 0.f;
      }
    }
  }

  __device__ static void store(T* __restrict__ row, int64_t d0, int lane, int64_t dim, const float (&v)[E]) {
    if constexpr (kVec) {
      const int64_t x0 = d0 + lane * E;
      if (x0 >= dim) return;
      T parts[E];
#pragma unroll
      for (int t = 0; t < E; ++t) parts[t] = from_float<T>(v[t]);
      uint4 raw;
      memcpy(&raw, parts, sizeof(raw));
      *reinterpret_cast<uint4*>(row + x0) = raw;
    } else {
#pragma unroll
      for (int t = 0; t < E; ++t) {
        const int64_t x = elem(d0, lane, t);
        if (x < dim) row[x] = from_float<T>(v[t]);
      }
    }
  }
};

// Adds rows sorted_pos[begin .. end) of grad into acc, one pass's share, in row order (the same
// fp32 additions in the same order on every run). Four rows' loads are issued before their adds
// so that they are in flight together.
template <typename T, bool kVec>
__device__ __forceinline__ void add_rows(const T* __restrict__ grad, const int32_t* __restrict__ sorted_pos,
                                         int64_t begin, int64_t end, int64_t dim, int64_t d0, int lane,
                                         float (&acc)[LaneSlice<T, kVec>::E]) {
  using S = LaneSlice<T, kVec>;
  constexpr int kRows = 4;
  int64_t i = begin;
  for (; i + kRows <= end; i += kRows) {
    float v[kRows][S::E];
#pragma unroll
    for (int u = 0; u < kRows; ++u) S::load(grad + static_cast<int64_t>(sorted_pos[i + u]) * dim, d0, lane, dim, v[u]);
#pragma unroll
    for (int u = 0; u < kRows; ++u)
#pragma unroll
      for (int t = 0; t < S::E; ++t) acc[t] += v[u][t];
  }
  for (; i < end; ++i) {
    float v[S::E];
    S::load(grad + static_cast<int64_t>(sorted_pos[i]) * dim, d0, lane, dim, v);
#pragma unroll
    for (int t = 0; t < S::E; ++t) acc[t] += v[t];
  }
}

template <typename T, bool kVec>
__global__ void segment_partial_kernel(const T* __restrict__ grad, const int32_t* __restrict__ sorted_pos,
                                       const int64_t* __restrict__ seg_start, const int64_t* __restrict__ pstart,
                                       int64_t num_rows, float* __restrict__ partials, int64_t max_partials,
                                       int64_t dim) {
  using S = LaneSlice<T, kVec>;
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
    for (int64_t d0 = 0; d0 < dim; d0 += S::kSpan) {
      float acc[S::E] = {};
      add_rows<T, kVec>(grad, sorted_pos, begin, end, dim, d0, lane, acc);
#pragma unroll
      for (int t = 0; t < S::E; ++t) {
        const int64_t x = S::elem(d0, lane, t);
        if (x < dim) partials[p * dim + x] = acc[t];
      }
    }
  }
}

template <typename T, bool kVec>
__global__ void segment_final_kernel(const T* __restrict__ grad, const int32_t* __restrict__ sorted_pos,
                                     const int64_t* __restrict__ seg_start, const int64_t* __restrict__ pstart,
                                     const float* __restrict__ partials, T* __restrict__ out, int64_t num_rows,
                                     int64_t dim) {
  using S = LaneSlice<T, kVec>;
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t u = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); u < num_rows;
       u += warps) {
    const int64_t begin = seg_start[u], end = seg_start[u + 1];
    const bool chunked = end - begin > kSegmentChunk;
    for (int64_t d0 = 0; d0 < dim; d0 += S::kSpan) {
      float acc[S::E] = {};
      if (!chunked) {
        add_rows<T, kVec>(grad, sorted_pos, begin, end, dim, d0, lane, acc);
      } else {
        for (int64_t p = pstart[u]; p < pstart[u + 1]; ++p) {
#pragma unroll
          for (int t = 0; t < S::E; ++t) {
            const int64_t x = S::elem(d0, lane, t);
            if (x < dim) acc[t] += partials[p * dim + x];
          }
        }
      }
      S::store(out + u * dim, d0, lane, dim, acc);
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
    const T* g = static_cast<const T*>(grad);
    T* o = static_cast<T*>(out);
    // 16-byte accesses when every row is 16-byte aligned.
    const bool vec = (dim * static_cast<int64_t>(sizeof(T))) % 16 == 0 && reinterpret_cast<uintptr_t>(grad) % 16 == 0 &&
                     reinterpret_cast<uintptr_t>(out) % 16 == 0;
    auto go = [&](auto vec_tag) {
      constexpr bool kVec = decltype(vec_tag)::value;
      const unsigned partial_blocks = blocks_for(b.max_partials * 32, 256), final_blocks = blocks_for(num_rows * 32, 256);
      segment_partial_kernel<T, kVec><<<partial_blocks, 256, 0, s>>>(g, b.sort.sorted_pos, b.seg_start, b.pstart, num_rows, b.partials, b.max_partials, dim);
      segment_final_kernel<T, kVec><<<final_blocks, 256, 0, s>>>(g, b.sort.sorted_pos, b.seg_start, b.pstart, b.partials, o, num_rows, dim);
    };
    if (vec) go(std::true_type{}); else go(std::false_type{});
  });
  check_launch("segment_sum_rows");
}

}  // namespace lemur::cuda
