// The CPU attention core shared by ragged_attention and bank_attention: one (sample, head)
// or (sample, query block) at a time, keys streamed in blocks of KEY_BLOCK through a loader,
// online softmax (flash-attention style) so memory stays O(block), math in acc_t (float for
// float32/float16/bfloat16 storage, double for float64). Inner loops run over contiguous
// acc_t rows so the compiler vectorizes them. Only unmasked keys are ever handed to the core:
// the loaders compact masked keys away, so no work is spent on them.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <type_traits>
#include <vector>

#include "ops/common/simd_math.h"

namespace lemur::ops::cpu_attention {

constexpr int64_t KEY_BLOCK = 64;

// Per-thread scratch, reused across the work items one thread runs.
template <typename acc_t>
struct Workspace {
  std::vector<acc_t> qt, dot, kb, vb, s, dp, m, l, dd, tmp, dkb, dvb;
  std::vector<acc_t> kt, vt;  // the AVX2 float path: key block transposed [d][KEY_BLOCK], [dv][KEY_BLOCK]
  void reserve(int64_t nq, int64_t d, int64_t dv) {
    auto grow = [](std::vector<acc_t>& v, int64_t n) {
      if (static_cast<int64_t>(v.size()) < n) v.resize(n);
    };
    grow(qt, d * nq);
    grow(dot, dv * nq);
    grow(kb, KEY_BLOCK * d);
    grow(vb, KEY_BLOCK * dv);
    grow(s, KEY_BLOCK * nq);
    grow(dp, KEY_BLOCK * nq);
    grow(m, nq);
    grow(l, nq);
    grow(dd, nq);
    grow(tmp, nq);
    grow(dkb, KEY_BLOCK * d);
    grow(dvb, KEY_BLOCK * dv);
    grow(kt, KEY_BLOCK * d);
    grow(vt, KEY_BLOCK * dv);
  }
};

}  // namespace lemur::ops::cpu_attention

// The core, compiled for the baseline target and, on x86-64 with GCC, again with AVX2 + FMA
// (the build sets no -march: this keeps one binary and still uses the wider units).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define LEMUR_CPU_ATTENTION_AVX2 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define LEMUR_CPU_ATTENTION_NS avx2
#define LEMUR_CPU_ATTENTION_SIMD 1
#include "ops/common/cpu_attention_impl.inc"
#undef LEMUR_CPU_ATTENTION_SIMD
#undef LEMUR_CPU_ATTENTION_NS
#pragma GCC pop_options
#endif
#define LEMUR_CPU_ATTENTION_NS generic
#define LEMUR_CPU_ATTENTION_SIMD 0
#include "ops/common/cpu_attention_impl.inc"
#undef LEMUR_CPU_ATTENTION_SIMD
#undef LEMUR_CPU_ATTENTION_NS

namespace lemur::ops::cpu_attention {

// AVX2 + FMA when the CPU has them, unless LEMUR_CPU_NO_AVX2 is set (to test the baseline path).
inline bool use_avx2() {
#ifdef LEMUR_CPU_ATTENTION_AVX2
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok && std::getenv("LEMUR_CPU_NO_AVX2") == nullptr;
#else
  return false;
#endif
}

// Forward for nq queries q [nq][d] against nk keys. load(j0, n, kb, vb) writes n key rows
// (kb [n][d], vb [n][dv]) for keys j0..j0+n-1. Writes o [nq][dv] (zeros when nk == 0) and
// lse [nq] (the log-sum-exp of the scaled scores; -inf when nk == 0).
template <typename acc_t, typename Loader>
void forward(int64_t nq, int64_t nk, int64_t d, int64_t dv, acc_t scale, const acc_t* q,
             Loader&& load, acc_t* o, acc_t* lse, Workspace<acc_t>& ws) {
#ifdef LEMUR_CPU_ATTENTION_AVX2
  if (use_avx2()) return avx2::forward<acc_t>(nq, nk, d, dv, scale, q, load, o, lse, ws);
#endif
  generic::forward<acc_t>(nq, nk, d, dv, scale, q, load, o, lse, ws);
}

// Backward for the same queries and keys. dout [nq][dv], dd[i] = dot(dout[i], out[i]),
// lse [nq] from the forward. Adds into dq [nq][d] (zero it first). When want_kv,
// store(j0, n, dkb, dvb) receives the complete gradients of keys j0..j0+n-1
// (dkb [n][d], dvb [n][dv]): every query of those keys is in this call.
template <typename acc_t, typename Loader, typename Store>
void backward(int64_t nq, int64_t nk, int64_t d, int64_t dv, acc_t scale, const acc_t* q,
              const acc_t* dout, const acc_t* dd, const acc_t* lse, Loader&& load, bool want_kv,
              Store&& store, acc_t* dq, Workspace<acc_t>& ws) {
#ifdef LEMUR_CPU_ATTENTION_AVX2
  if (use_avx2())
    return avx2::backward<acc_t>(nq, nk, d, dv, scale, q, dout, dd, lse, load, want_kv, store, dq, ws);
#endif
  generic::backward<acc_t>(nq, nk, d, dv, scale, q, dout, dd, lse, load, want_kv, store, dq, ws);
}

// The strided row kernels (see cpu_attention_impl.inc): float32 with head dims that are
// multiples of 8, on AVX2 + FMA (not under LEMUR_CPU_NO_AVX2). Read the answer once per call.
inline bool rows_path(int64_t d, int64_t dv) { return d % 8 == 0 && dv % 8 == 0 && use_avx2(); }

// Requires rows_path(d, dv).
inline void forward_rows(int64_t nq, int64_t nk, int64_t d, int64_t dv, float scale, const float* q, int64_t ldq,
                         const float* k, int64_t ldk, const float* v, int64_t ldv, float* o, int64_t ldo, float* lse,
                         int64_t ldlse, Workspace<float>& ws) {
#ifdef LEMUR_CPU_ATTENTION_AVX2
  avx2::forward_rows_f32(nq, nk, d, dv, scale, q, ldq, k, ldk, v, ldv, o, ldo, lse, ldlse, ws);
#else
  std::abort();
#endif
}

inline void backward_rows(int64_t nq, int64_t nk, int64_t d, int64_t dv, float scale, const float* q, int64_t ldq,
                          const float* k, int64_t ldk, const float* v, int64_t ldv, const float* out, int64_t ldout,
                          const float* dout, int64_t lddo, const float* lse, int64_t ldlse, float* dq, int64_t lddq,
                          float* dk, int64_t lddk, float* dvv, int64_t lddv, Workspace<float>& ws) {
#ifdef LEMUR_CPU_ATTENTION_AVX2
  avx2::backward_rows_f32(nq, nk, d, dv, scale, q, ldq, k, ldk, v, ldv, out, ldout, dout, lddo, lse, ldlse, dq, lddq,
                          dk, lddk, dvv, lddv, ws);
#else
  std::abort();
#endif
}

}  // namespace lemur::ops::cpu_attention
