// CUDA ragged_attention: the flash-style kernels of ops/common/cuda_attention.cuh with keys and
// values from k/v (per head) and an optional key mask.
#include "ops/common/cuda_attention_launch.cuh"
#include "ops/ragged_attention/cuda/ragged_attention_kernel.h"

namespace lemur::cuda {
namespace {

template <typename T>
attn::QueryArgs<T> query_args(const RaggedAttentionLaunch& L, const int64_t* tiles) {
  attn::QueryArgs<T> a{};
  a.q = static_cast<const T*>(L.q);
  a.q_offsets = L.q_offsets;
  a.k_offsets = L.k_offsets;
  a.tiles = tiles;
  a.batch = L.batch;
  a.heads = L.heads;
  a.d = static_cast<int>(L.d);
  a.dv = static_cast<int>(L.dv);
  a.scale = L.scale;
  return a;
}

template <typename T>
attn::RaggedKeys<T> ragged_keys(const RaggedAttentionLaunch& L) {
  attn::RaggedKeys<T> k{};
  k.k = static_cast<const T*>(L.k);
  k.v = static_cast<const T*>(L.v);
  k.mask = L.key_mask;
  k.heads = L.heads;
  k.d = static_cast<int>(L.d);
  k.dv = static_cast<int>(L.dv);
  k.kvec = L.d % 4 == 0 && attn::aligned4(L.k, sizeof(T));
  k.vvec = L.dv % 4 == 0 && attn::aligned4(L.v, sizeof(T));
  k.kvec16 = L.d % 8 == 0 && reinterpret_cast<uintptr_t>(L.k) % 16 == 0;
  k.vvec16 = L.dv % 8 == 0 && reinterpret_cast<uintptr_t>(L.v) % 16 == 0;
  return k;
}

}  // namespace

void ragged_attention_forward(const RaggedAttentionLaunch& L, const int64_t* q_tiles, int64_t num_q_tiles,
                              int rows_per_block, void* out, float* lse, void* stream) {
  if (L.batch == 0 || L.total_q == 0) return;
  dispatch_dtype(L.dtype, [&](auto tag) {
    using T = decltype(tag);
    attn::QueryArgs<T> a = query_args<T>(L, q_tiles);
    a.out = static_cast<T*>(out);
    a.lse = lse;
    attn::launch_forward<T, T>(a, ragged_keys<T>(L), num_q_tiles, rows_per_block, static_cast<cudaStream_t>(stream));
  });
  check_launch("ragged_attention forward");
}

void ragged_attention_backward(const RaggedAttentionLaunch& L, const int64_t* q_tiles, int64_t num_q_tiles,
                               int rows_per_block, const int64_t* k_tiles, int64_t num_k_tiles, const void* out,
                               const void* grad_out, const float* lse, float* dd, void* dq, void* dk, void* dv,
                               void* stream) {
  if (L.batch == 0) return;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  dispatch_dtype(L.dtype, [&](auto tag) {
    using T = decltype(tag);
    attn::launch_rowdot<T>(static_cast<const T*>(grad_out), static_cast<const T*>(out), dd, L.total_q * L.heads,
                           static_cast<int>(L.dv), s);
    attn::QueryArgs<T> a = query_args<T>(L, q_tiles);
    a.lse = const_cast<float*>(lse);
    a.grad_out = static_cast<const T*>(grad_out);
    a.dd = dd;
    a.dq = static_cast<T*>(dq);
    const attn::RaggedKeys<T> keys = ragged_keys<T>(L);
    attn::launch_dq<T, T>(a, keys, num_q_tiles, rows_per_block, s);
    a.tiles = k_tiles;
    attn::launch_dkv<T>(a, keys, num_k_tiles, static_cast<T*>(dk), static_cast<T*>(dv), s);
  });
  check_launch("ragged_attention backward");
}

}  // namespace lemur::cuda
