// Host side of the attention kernels: shared-memory sizes, tile shapes and the choice between
// the tensor-core kernels (cuda_attention_mma.cuh) and the CUDA-core ones (cuda_attention.cuh).
// Included by the ragged_attention and bank_attention .cu files only.
#pragma once
#include "ops/common/cuda_attention.cuh"
#include "ops/common/cuda_attention_mma.cuh"

namespace lemur::cuda::attn {
namespace {

// ---------------------------------------------------------------------------------------------
// Host side.

inline int pad4(int x) { return (x + 3) & ~3; }
// A row stride (multiple of 4 floats) whose float4 reads by 8 consecutive lanes from 8
// consecutive rows hit distinct banks: an odd multiple of 4.
inline int pad_stride(int w4) { return (w4 % 8 == 0) ? w4 + 4 : w4; }
inline int chunks_for(int64_t width) { return width <= 32 ? 1 : (width <= 64 ? 2 : 4); }
inline bool aligned4(const void* p, size_t elem) {
  return reinterpret_cast<uintptr_t>(p) % (4 * elem) == 0;
}

template <typename TQ>
void fill_dims(QueryArgs<TQ>& a) {
  a.dp = pad4(a.d);
  a.dvp = pad4(a.dv);
  a.ks = pad_stride(a.dp);
  a.vs = pad_stride(a.dvp);
}

template <typename Kernel>
void prepare_smem(Kernel kernel, size_t bytes) {
  if (bytes > static_cast<size_t>(kSmemDefault))
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
}

template <typename F>
void dispatch_chunks(int64_t width, F&& f) {
  switch (chunks_for(width)) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    default: f(std::integral_constant<int, 4>{}); break;
  }
}

// Whether these storage types and head dims take the tensor-core kernels (the rule the host's
// tile tables were built with). The type test is compile-time too, so that no tensor-core
// kernel is instantiated for float32 or mixed dtypes.
template <typename TQ, typename TK>
constexpr bool mma_types() { return std::is_same_v<TQ, TK> && !std::is_same_v<TQ, float>; }
template <typename TQ, typename TK>
bool uses_mma(int d, int dv) { return attention_uses_tensor_cores(dtype_tag<TQ>(), dtype_tag<TK>(), d, dv); }

// Calls f with NT, the register tiles of 16 columns a head dim of `width` needs (2, 4 or 8).
template <typename F>
void dispatch_tiles(int64_t width, F&& f) {
  dispatch_chunks(width, [&](auto cc) { f(std::integral_constant<int, 2 * decltype(cc)::value>{}); });
}

// Keys per tile of the tensor-core forward and dq kernels: one-warp blocks (at most 16 query
// rows of a sample) take 32, so that their shared memory halves and more of them are resident;
// larger blocks share 64-key tiles among their warps.
template <typename F>
void dispatch_tile_keys(int warps, F&& f) {
  if (warps == 1) f(std::integral_constant<int, 32>{});
  else f(std::integral_constant<int, 64>{});
}

// 16-byte aligned rows of 16-bit elements (d % 16 == 0 makes every row aligned when the base is).
inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <typename TQ, typename TK, typename Keys>
void launch_forward(QueryArgs<TQ> a, const Keys& keys, int64_t num_tiles, int rows_per_block,
                    cudaStream_t stream) {
  if (num_tiles == 0 || a.heads == 0) return;
  if constexpr (mma_types<TQ, TK>()) {
    if (uses_mma<TQ, TK>(a.d, a.dv)) {
      const int warps = rows_per_block / kMmaRows;
      dispatch_tiles(a.dv, [&](auto nt) {
        dispatch_tile_keys(warps, [&](auto kt) {
          const size_t bytes = FwdMmaLayout(warps, decltype(kt)::value, a.d, a.dv, Keys::kShared, sizeof(TQ)).total;
          auto kernel = attention_forward_mma_kernel<TQ, decltype(nt)::value, decltype(kt)::value, Keys>;
          prepare_smem(kernel, bytes);
          const dim3 grid(static_cast<unsigned>(num_tiles), static_cast<unsigned>(a.heads));
          kernel<<<grid, warps * 32, bytes, stream>>>(a, keys, aligned16(a.q));
        });
      });
      return;
    }
  }
  fill_dims(a);
  const int warps = rows_per_block / kRowsPerWarp;
  const size_t floats = static_cast<size_t>(kFwdKeys) * a.ks + (Keys::kShared ? 0 : kFwdKeys * a.vs) + kFwdKeys +
                        static_cast<size_t>(warps) * kRowsPerWarp * (a.dp + kFwdKeys);
  const size_t bytes = floats * sizeof(float);
  dispatch_chunks(a.d > a.dv ? a.d : a.dv, [&](auto cc) {
    constexpr int C = decltype(cc)::value;
    auto kernel = attention_forward_kernel<TQ, TK, C, Keys>;
    prepare_smem(kernel, bytes);
    kernel<<<dim3(static_cast<unsigned>(num_tiles), static_cast<unsigned>(a.heads)), warps * 32, bytes, stream>>>(a, keys);
  });
}

template <typename T>
void launch_rowdot(const T* g, const T* o, float* dd, int64_t rows, int width, cudaStream_t stream) {
  if (rows == 0) return;
  rowdot_kernel<T><<<blocks_for(rows * 32, 256), 256, 0, stream>>>(g, o, dd, rows, width);
}

template <typename TQ, typename TK, typename Keys>
void launch_dq(QueryArgs<TQ> a, const Keys& keys, int64_t num_tiles, int rows_per_block, cudaStream_t stream) {
  if (num_tiles == 0 || a.heads == 0) return;
  if constexpr (mma_types<TQ, TK>()) {
    if (uses_mma<TQ, TK>(a.d, a.dv)) {
      const int warps = rows_per_block / kMmaRows;
      dispatch_tiles(a.d, [&](auto nt) {
        dispatch_tile_keys(warps, [&](auto kt) {
          const size_t bytes = DqMmaLayout(warps, decltype(kt)::value, a.d, a.dv, Keys::kShared, sizeof(TQ)).total;
          auto kernel = attention_dq_mma_kernel<TQ, decltype(nt)::value, decltype(kt)::value, Keys>;
          prepare_smem(kernel, bytes);
          const dim3 grid(static_cast<unsigned>(num_tiles), static_cast<unsigned>(a.heads));
          kernel<<<grid, warps * 32, bytes, stream>>>(a, keys, aligned16(a.q), aligned16(a.grad_out));
        });
      });
      return;
    }
  }
  fill_dims(a);
  const int warps = rows_per_block / kRowsPerWarp;
  const size_t floats = static_cast<size_t>(kFwdKeys) * a.ks + (Keys::kShared ? 0 : kFwdKeys * a.vs) + kFwdKeys +
                        static_cast<size_t>(warps) * kRowsPerWarp * (a.dp + a.dvp + kFwdKeys);
  const size_t bytes = floats * sizeof(float);
  dispatch_chunks(a.d > a.dv ? a.d : a.dv, [&](auto cc) {
    constexpr int C = decltype(cc)::value;
    auto kernel = attention_dq_kernel<TQ, TK, C, Keys>;
    prepare_smem(kernel, bytes);
    kernel<<<dim3(static_cast<unsigned>(num_tiles), static_cast<unsigned>(a.heads)), warps * 32, bytes, stream>>>(a, keys);
  });
}

template <typename T>
void launch_dkv(QueryArgs<T> a, const RaggedKeys<T>& keys, int64_t num_tiles, T* dk, T* dv, cudaStream_t stream) {
  if (num_tiles == 0 || a.heads == 0) return;
  if constexpr (mma_types<T, T>()) {
    if (uses_mma<T, T>(a.d, a.dv)) {
      const DkvMmaLayout layout(a.d, a.dv, sizeof(T));
      dispatch_tiles(a.d > a.dv ? a.d : a.dv, [&](auto nt) {
        auto kernel = attention_dkv_mma_kernel<T, decltype(nt)::value>;
        prepare_smem(kernel, layout.total);
        const dim3 grid(static_cast<unsigned>(num_tiles), static_cast<unsigned>(a.heads));
        kernel<<<grid, kDkvMmaWarps * 32, layout.total, stream>>>(a, keys, dk, dv, aligned16(a.q), aligned16(a.grad_out));
      });
      return;
    }
  }
  fill_dims(a);
  const size_t floats = static_cast<size_t>(kDkvKeys) * (a.ks + a.vs) + kDkvKeys +
                        static_cast<size_t>(kDkvQueries) * (a.dp + a.dvp + 2 * kDkvKeys + 2);
  const size_t bytes = floats * sizeof(float);
  dispatch_chunks(a.d > a.dv ? a.d : a.dv, [&](auto cc) {
    constexpr int C = decltype(cc)::value;
    auto kernel = attention_dkv_kernel<T, C>;
    prepare_smem(kernel, bytes);
    kernel<<<dim3(static_cast<unsigned>(num_tiles), static_cast<unsigned>(a.heads)), kDkvThreads, bytes, stream>>>(
        a, keys, dk, dv);
  });
}

}  // namespace
}  // namespace lemur::cuda::attn
