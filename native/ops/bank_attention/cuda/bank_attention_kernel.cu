// CUDA bank_attention: the flash-style kernels of ops/common/cuda_attention.cuh with keys =
// values = bank rows read by id inside the kernel (misses masked), queries flattened to
// [Tq * H, E] rows so that one key tile in shared memory serves every head of the sample.
#include "ops/bank_attention/cuda/bank_attention_kernel.h"
#include "ops/common/cuda_attention_launch.cuh"

namespace lemur::cuda {
namespace {

template <typename TQ>
attn::QueryArgs<TQ> query_args(const BankAttentionLaunch& L, const int64_t* tiles) {
  attn::QueryArgs<TQ> a{};
  a.q = static_cast<const TQ*>(L.q);
  a.q_offsets = L.q_row_offsets;
  a.k_offsets = L.k_offsets;
  a.tiles = tiles;
  a.batch = L.batch;
  a.heads = 1;
  a.d = static_cast<int>(L.e);
  a.dv = static_cast<int>(L.e);
  a.scale = L.scale;
  return a;
}

template <typename TK>
attn::BankKeys<TK> bank_keys(const BankAttentionLaunch& L) {
  attn::BankKeys<TK> k{};
  k.bank = static_cast<const TK*>(L.bank);
  k.written = L.written;
  k.ids = L.ids;
  k.heads = 1;
  k.d = static_cast<int>(L.e);
  k.dv = static_cast<int>(L.e);
  k.kvec = k.vvec = L.e % 4 == 0 && attn::aligned4(L.bank, sizeof(TK));
  k.kvec16 = k.vvec16 = (L.e * sizeof(TK)) % 16 == 0 && reinterpret_cast<uintptr_t>(L.bank) % 16 == 0;
  return k;
}

}  // namespace

void bank_attention_forward(const BankAttentionLaunch& L, const int64_t* q_tiles, int64_t num_q_tiles,
                            int rows_per_block, void* out, float* lse, void* stream) {
  if (L.batch == 0 || L.total_rows == 0) return;
  dispatch_dtype(L.q_dtype, [&](auto qtag) {
    using TQ = decltype(qtag);
    dispatch_dtype(L.bank_dtype, [&](auto ktag) {
      using TK = decltype(ktag);
      attn::QueryArgs<TQ> a = query_args<TQ>(L, q_tiles);
      a.out = static_cast<TQ*>(out);
      a.lse = lse;
      attn::launch_forward<TQ, TK>(a, bank_keys<TK>(L), num_q_tiles, rows_per_block,
                                   static_cast<cudaStream_t>(stream));
    });
  });
  check_launch("bank_attention forward");
}

void bank_attention_backward(const BankAttentionLaunch& L, const int64_t* q_tiles, int64_t num_q_tiles,
                             int rows_per_block, const void* out, const void* grad_out, const float* lse,
                             float* dd, void* dq, void* stream) {
  if (L.batch == 0 || L.total_rows == 0) return;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  dispatch_dtype(L.q_dtype, [&](auto qtag) {
    using TQ = decltype(qtag);
    attn::launch_rowdot<TQ>(static_cast<const TQ*>(grad_out), static_cast<const TQ*>(out), dd, L.total_rows,
                            static_cast<int>(L.e), s);
    dispatch_dtype(L.bank_dtype, [&](auto ktag) {
      using TK = decltype(ktag);
      attn::QueryArgs<TQ> a = query_args<TQ>(L, q_tiles);
      a.lse = const_cast<float*>(lse);
      a.grad_out = static_cast<const TQ*>(grad_out);
      a.dd = dd;
      a.dq = static_cast<TQ*>(dq);
      attn::launch_dq<TQ, TK>(a, bank_keys<TK>(L), num_q_tiles, rows_per_block, s);
    });
  });
  check_launch("bank_attention backward");
}

}  // namespace lemur::cuda
