// Row gathers and the stable (key, position) radix sort shared by the memory-bank and
// expand_rows CUDA kernels. Plain CUDA (CUB from the toolkit): included by .cu files only.
#pragma once
#include <cuda_runtime.h>

#include <cub/cub.cuh>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "ops/common/cuda_common.cuh"

namespace lemur::cuda::rows {
namespace {

constexpr size_t kAlign = 256;
inline size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Carves aligned sub-buffers out of one workspace allocation (or only counts bytes when base is
// nullptr).
struct Carver {
  char* base;
  size_t used = 0;
  template <typename T>
  T* take(size_t count) {
    T* p = base ? reinterpret_cast<T*>(base + used) : nullptr;
    used += align_up(count * sizeof(T));
    return p;
  }
};

// The widest access (16, 8, 4, 2 or 1 bytes) dividing the row size and every base pointer.
inline int access_bytes(int64_t row_bytes, std::initializer_list<const void*> ptrs) {
  int w = 16;
  auto fits = [&](int bytes) {
    if (row_bytes % bytes) return false;
    for (const void* p : ptrs)
      if (reinterpret_cast<uintptr_t>(p) % bytes) return false;
    return true;
  };
  while (w > 1 && !fits(w)) w >>= 1;
  return w;
}

// Splits a flat index into (row, word) for rows of `per` words without 64-bit division in the
// common cases: per a power of two (shift >= 0), or every index below 2^32.
struct RowSplit {
  int64_t per;
  int shift;   // log2(per), or -1
  bool small;  // m * per < 2^32
  __device__ __forceinline__ void operator()(int64_t idx, int64_t& i, int64_t& w) const {
    if (shift >= 0) {
      i = idx >> shift;
      w = idx & (per - 1);
    } else if (small) {
      const uint32_t q = static_cast<uint32_t>(idx) / static_cast<uint32_t>(per);
      i = q;
      w = static_cast<uint32_t>(idx) - q * static_cast<uint32_t>(per);
    } else {
      i = idx / per;
      w = idx - i * per;
    }
  }
};

inline RowSplit row_split(int64_t m, int64_t per) {
  RowSplit s{per, -1, static_cast<uint64_t>(m) * static_cast<uint64_t>(per) < (uint64_t{1} << 32)};
  if ((per & (per - 1)) == 0) {
    s.shift = 0;
    while ((int64_t{1} << s.shift) < per) ++s.shift;
  }
  return s;
}

// out[i] = flag(index[i]) ? src[index[i]] : 0 for rows of `words` words; present[i] = flag.
// written == nullptr: every row is present (and present may be nullptr). Each thread copies
// kRowCopyWords consecutive words of one row (the bank scatter does likewise): the index and
// flag loads are paid once per group and the group's loads are all in flight together
// (bandwidth, not latency, bounds the copy).
constexpr int kRowCopyWords = 4;

template <typename W>
__global__ void gather_kernel(const W* __restrict__ src, const uint8_t* __restrict__ written,
                              const int64_t* __restrict__ index, W* __restrict__ out,
                              uint8_t* __restrict__ present, int64_t m, int64_t words, RowSplit split) {
  const int64_t n = m * split.per;  // per = groups per row, at least 1: zero-width rows still report present
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < n;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t i, g;
    split(idx, i, g);
    const int64_t row = index[i];
    const bool hit = written == nullptr || written[row] != 0;
    const int64_t w0 = g * kRowCopyWords;
    W v[kRowCopyWords];
#pragma unroll
    for (int u = 0; u < kRowCopyWords; ++u) {
      v[u] = W{};
      if (hit && w0 + u < words) v[u] = src[row * words + w0 + u];
    }
#pragma unroll
    for (int u = 0; u < kRowCopyWords; ++u)
      if (w0 + u < words) out[i * words + w0 + u] = v[u];
    if (present != nullptr && g == 0) present[i] = hit ? 1 : 0;
  }
}

inline void launch_gather(const void* src, const uint8_t* written, const int64_t* index, void* out,
                          uint8_t* present, int64_t m, int64_t row_bytes, cudaStream_t stream) {
  if (m == 0) return;
  const int w = access_bytes(row_bytes, {src, out});
  auto go = [&](auto word) {
    using W = decltype(word);
    const int64_t words = row_bytes / static_cast<int64_t>(sizeof(W));
    const int64_t groups = (words + kRowCopyWords - 1) / kRowCopyWords;
    const RowSplit split = row_split(m, groups > 0 ? groups : 1);
    gather_kernel<W><<<blocks_for(m * split.per, 256), 256, 0, stream>>>(static_cast<const W*>(src), written, index, static_cast<W*>(out), present, m, words, split);
  };
  switch (w) {
    case 16: go(uint4{}); break;
    case 8: go(uint2{}); break;
    case 4: go(uint32_t{}); break;
    case 2: go(uint16_t{}); break;
    default: go(uint8_t{}); break;
  }
}

__global__ void iota_kernel(int32_t* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = static_cast<int32_t>(i);
}

// A stable sort of positions 0..m-1 by key (keys int64 in [0, 2^bits)): sorted_keys, and
// sorted_pos with the positions of equal keys in increasing order (LSD radix sort is stable).
struct SortBuffers {
  int64_t* sorted_keys;
  int32_t* sorted_pos;
  int32_t* pos;
  void* temp;
  size_t temp_bytes;
};

inline SortBuffers carve_sort(Carver& c, int64_t m, int bits) {
  SortBuffers s{};
  s.sorted_keys = c.take<int64_t>(m);
  s.sorted_pos = c.take<int32_t>(m);
  s.pos = c.take<int32_t>(m);
  size_t temp = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, temp, static_cast<const int64_t*>(nullptr),
                                  static_cast<int64_t*>(nullptr), static_cast<const int32_t*>(nullptr),
                                  static_cast<int32_t*>(nullptr), static_cast<int>(m), 0, bits);
  s.temp = c.take<char>(temp);
  s.temp_bytes = temp;
  return s;
}

inline void check_size(int64_t m, const char* what) {
  if (m > INT32_MAX)
    throw std::runtime_error(std::string(what) + ": more than 2^31 - 1 ids are not supported");
}

inline void sort_positions(const SortBuffers& s, const int64_t* keys, int64_t m, int bits, cudaStream_t stream,
                           const char* what) {
  iota_kernel<<<blocks_for(m, 256), 256, 0, stream>>>(s.pos, m);
  size_t temp = s.temp_bytes;
  cudaError_t err = cub::DeviceRadixSort::SortPairs(s.temp, temp, keys, s.sorted_keys, s.pos, s.sorted_pos,
                                                    static_cast<int>(m), 0, bits, stream);
  if (err != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": radix sort failed: " + cudaGetErrorString(err));
}

}  // namespace
}  // namespace lemur::cuda::rows
