// Emulated nvcuda::wmma (16x16x16 only): every thread of the warp holds the whole tile and
// computes the product itself, which is what the layout-agnostic API promises to observe. On a
// GPU a thread loads and stores only its own fragment elements (the same ones for an
// accumulator), so a load-mma-store of one tile never races; here each thread touches the whole
// tile, so loads and stores are warp barriers (they are warp-collective on the GPU too).
#pragma once
#include "cuda_bf16.h"
#include "cuda_fp16.h"
#include "cuda_runtime.h"

namespace nvcuda::wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static constexpr int num_elements = 256;  // the whole tile, row-major (8 per thread on a GPU)
  float x[256];
};

inline float wf(float x) { return x; }
inline float wf(__half x) { return __half2float(x); }
inline float wf(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename Use, typename T, typename L>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, L>& f, const T* p, unsigned ldm) {
  constexpr bool row = std::is_same_v<L, row_major>;
  __syncwarp();
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) f.x[i * 16 + j] = wf(row ? p[i * ldm + j] : p[j * ldm + i]);
  __syncwarp();
}
inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float>& f, const float* p, unsigned ldm, layout_t l) {
  __syncwarp();
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) f.x[i * 16 + j] = l == mem_row_major ? p[i * ldm + j] : p[j * ldm + i];
  __syncwarp();
}
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm, layout_t l) {
  __syncwarp();
  if (emu::t_thread.x % 32 == 0)
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 16; ++j) (l == mem_row_major ? p[i * ldm + j] : p[j * ldm + i]) = f.x[i * 16 + j];
  __syncwarp();
}
inline void fill_fragment(fragment<accumulator, 16, 16, 16, float>& f, float x) {
  for (float& e : f.x) e = x;
}
template <typename T, typename LA, typename LB>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, T, LA>& a,
              const fragment<matrix_b, 16, 16, 16, T, LB>& b, const fragment<accumulator, 16, 16, 16, float>& c) {
  float out[256];
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      float s = c.x[i * 16 + j];
      for (int k = 0; k < 16; ++k) s += a.x[i * 16 + k] * b.x[k * 16 + j];
      out[i * 16 + j] = s;
    }
  for (int i = 0; i < 256; ++i) d.x[i] = out[i];
}
}  // namespace nvcuda::wmma
