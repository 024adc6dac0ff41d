// Flash-attention-style CUDA kernels over ragged samples, shared by ragged_attention (keys and
// values from k/v, optional key mask) and bank_attention (keys = values = bank rows read by
// id, misses masked). Plain CUDA: included by the two ops' .cu files only.
//
// Layout of the work (no padding anywhere: every block belongs to one sample):
//  - forward and dq: one block per (sample, tile of up to 8 * warps query rows, head). Each warp
//    owns 8 query rows; key tiles of 64 rows go through shared memory as fp32; in the score phase
//    lane j owns keys j and j + 32 of the tile, in the P.V / dS.K phase lane j owns output dims
//    j, j + 32, ... (C of them). Online softmax (running max and sum per row, rescaled per tile).
//    The forward writes the log-sum-exp; the dq kernel recomputes P from it.
//  - dk/dv (ragged_attention only): one block (4 warps) per (sample, tile of 32 keys, head),
//    looping over all of the sample's queries in chunks of 16: each key's gradient is owned by
//    one block, summed in a fixed order: deterministic, no atomics.
// Math is fp32 throughout (storage float32, float16 or bfloat16). The tensor-core versions of
// the three passes, for 16-bit inputs, are in cuda_attention_mma.cuh; the host side that picks
// one or the other is cuda_attention_launch.cuh.
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ops/common/cuda_common.cuh"

namespace lemur::cuda::attn {
namespace {

constexpr int kRowsPerWarp = 8;
constexpr int kFwdKeys = 64;      // keys per tile, forward and dq
constexpr int kDkvKeys = 32;      // keys per block, dk/dv (kAttentionKeysPerBlock)
constexpr int kDkvQueries = 16;   // query chunk, dk/dv
constexpr int kDkvThreads = 128;  // 4 warps, 4 queries of each chunk per warp
constexpr int kSmemDefault = 48 * 1024;

__device__ __forceinline__ float neg_inf() { return -INFINITY; }

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float dot4(const float4& a, const float4& b, float acc) {
  acc = fmaf(a.x, b.x, acc);
  acc = fmaf(a.y, b.y, acc);
  acc = fmaf(a.z, b.z, acc);
  return fmaf(a.w, b.w, acc);
}
__device__ __forceinline__ float comp(const float4& v, int i) {
  return i == 0 ? v.x : (i == 1 ? v.y : (i == 2 ? v.z : v.w));
}
__device__ __forceinline__ void axpy4(float4& acc, float s, const float4& v) {
  acc.x = fmaf(s, v.x, acc.x);
  acc.y = fmaf(s, v.y, acc.y);
  acc.z = fmaf(s, v.z, acc.z);
  acc.w = fmaf(s, v.w, acc.w);
}
__device__ __forceinline__ float4 lds4(const float* p) { return *reinterpret_cast<const float4*>(p); }

// Four consecutive elements as floats; p is aligned to 4 elements.
__device__ __forceinline__ float4 load4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ __forceinline__ float4 load4(const __half* p) {
  const uint2 u = *reinterpret_cast<const uint2*>(p);
  __half2 a, b;
  memcpy(&a, &u.x, 4);
  memcpy(&b, &u.y, 4);
  const float2 fa = __half22float2(a), fb = __half22float2(b);
  return make_float4(fa.x, fa.y, fb.x, fb.y);
}
__device__ __forceinline__ float4 load4(const __nv_bfloat16* p) {
  const uint2 u = *reinterpret_cast<const uint2*>(p);
  __nv_bfloat162 a, b;
  memcpy(&a, &u.x, 4);
  memcpy(&b, &u.y, 4);
  const float2 fa = __bfloat1622float2(a), fb = __bfloat1622float2(b);
  return make_float4(fa.x, fa.y, fb.x, fb.y);
}

// Block-wide: rows [0, rows) of dst (row stride `stride` floats, a multiple of 4) get `width`
// fp32 values each, zero-padded to a multiple of 4; row r is read from src(r), or is zero when
// src(r) is nullptr. vec: width % 4 == 0 and rows 4-element aligned (vector loads). Each thread
// issues up to kLoadBatch loads before the first store, so they are in flight together.
constexpr int kLoadBatch = 4;

template <typename T, typename Src>
__device__ __forceinline__ void load_rows(float* dst, int stride, int rows, int width, bool vec, Src src) {
  const int chunks = (width + 3) >> 2;
  const int total = rows * chunks;
  for (int first = threadIdx.x; first < total; first += kLoadBatch * blockDim.x) {
    float4 v[kLoadBatch];
#pragma unroll
    for (int u = 0; u < kLoadBatch; ++u) {
      const int idx = first + u * blockDim.x;
      v[u] = make_float4(0.f, 0.f, 0.f, 0.f);
      if (idx >= total) continue;
      const int r = idx / chunks, c = (idx - r * chunks) << 2;
      const T* p = src(r);
      if (p == nullptr) continue;
      if (vec) {
        v[u] = load4(p + c);
      } else {
        v[u].x = to_float(p[c]);
        if (c + 1 < width) v[u].y = to_float(p[c + 1]);
        if (c + 2 < width) v[u].z = to_float(p[c + 2]);
        if (c + 3 < width) v[u].w = to_float(p[c + 3]);
      }
    }
#pragma unroll
    for (int u = 0; u < kLoadBatch; ++u) {
      const int idx = first + u * blockDim.x;
      if (idx >= total) continue;
      const int r = idx / chunks, c = (idx - r * chunks) << 2;
      *reinterpret_cast<float4*>(dst + r * stride + c) = v[u];
    }
  }
}

// Where keys and values come from.
template <typename TK>
struct RaggedKeys {
  static constexpr bool kShared = false;  // values are a separate tensor
  const TK* k;             // [Tk, heads, d]
  const TK* v;             // [Tk, heads, dv]
  const uint8_t* mask;     // [Tk] or nullptr
  int64_t heads;
  int d, dv;
  bool kvec, vvec;      // rows 4-element aligned: vector loads in load_rows
  bool kvec16, vvec16;  // rows 16-byte aligned: 16-byte copies in copy_rows
  __device__ bool present(int64_t kk) const { return mask == nullptr || mask[kk] != 0; }
  __device__ const TK* key(int64_t kk, int64_t h) const { return k + (kk * heads + h) * d; }
  __device__ const TK* value(int64_t kk, int64_t h) const { return v + (kk * heads + h) * dv; }
};

template <typename TK>
struct BankKeys {
  static constexpr bool kShared = true;  // values are the keys: one shared-memory tile
  const TK* bank;          // [N, d]
  const uint8_t* written;  // [N]
  const int64_t* ids;      // [Tk]
  int64_t heads;           // 1: the queries are flattened (sample rows x heads)
  int d, dv;               // dv == d
  bool kvec, vvec;
  bool kvec16, vvec16;
  __device__ bool present(int64_t kk) const { return written[ids[kk]] != 0; }
  __device__ const TK* key(int64_t kk, int64_t) const { return bank + ids[kk] * d; }
  __device__ const TK* value(int64_t kk, int64_t h) const { return key(kk, h); }
};

// Block-wide: the key tile k0 .. k0 + tile - 1 (the first n of them in the sample) into Ks
// (and Vs), valid[j] = 1 for keys that exist and are present, 0 otherwise (rows then zero).
template <typename TK, typename Keys>
__device__ __forceinline__ void load_kv_tile(const Keys& keys, int64_t k0, int n, int tile, int64_t h,
                                             float* Ks, int ks, float* Vs, int vs, float* valid) {
  for (int j = threadIdx.x; j < tile; j += blockDim.x)
    valid[j] = (j < n && keys.present(k0 + j)) ? 1.f : 0.f;
  __syncthreads();
  load_rows<TK>(Ks, ks, tile, keys.d, keys.kvec,
                [&](int r) -> const TK* { return valid[r] != 0.f ? keys.key(k0 + r, h) : nullptr; });
  if (!Keys::kShared)
    load_rows<TK>(Vs, vs, tile, keys.dv, keys.vvec,
                  [&](int r) -> const TK* { return valid[r] != 0.f ? keys.value(k0 + r, h) : nullptr; });
}

// The sample b of tile t: tiles[b] <= t < tiles[b + 1] (tiles: [batch + 1] prefix sums).
__device__ __forceinline__ int64_t tile_sample(const int64_t* tiles, int64_t batch, int64_t t) {
  int64_t lo = 0, hi = batch;
  while (hi - lo > 1) {
    const int64_t mid = (lo + hi) >> 1;
    if (tiles[mid] <= t) lo = mid; else hi = mid;
  }
  return lo;
}

template <typename TQ>
struct QueryArgs {
  const TQ* q;               // [rows, heads, d]
  const int64_t* q_offsets;  // [batch + 1], in rows of q
  const int64_t* k_offsets;  // [batch + 1]
  const int64_t* tiles;      // [batch + 1] tile prefix sums (query tiles; key tiles for dk/dv)
  int64_t batch, heads;
  int d, dv;
  int dp, dvp, ks, vs;  // d, dv rounded up to 4; shared-memory row strides of K and V tiles
  float scale;
  TQ* out;               // forward: [rows, heads, dv]
  float* lse;            // forward output, backward input: [rows, heads]
  const TQ* grad_out;    // backward: [rows, heads, dv]
  const float* dd;       // backward: rowsum(grad_out * out), [rows, heads]
  TQ* dq;                // backward: [rows, heads, d]
};

// Where a block of the query-tiled kernels (forward, dq) sits: sample b, head h, the block's
// first query row and row count, this warp's R rows from row0 (nrows of them exist), and the
// sample's keys [k0, k0 + nk).
template <int R>
struct QueryBlock {
  int64_t h, b, qblock, row0, k0, nk;
  int nrows, block_rows;
  template <typename T>
  __device__ QueryBlock(const QueryArgs<T>& a, int warps, int warp) {
    h = blockIdx.y;
    b = tile_sample(a.tiles, a.batch, blockIdx.x);
    qblock = a.q_offsets[b] + (static_cast<int64_t>(blockIdx.x) - a.tiles[b]) * (warps * R);
    row0 = qblock + warp * R;
    const int64_t left = a.q_offsets[b + 1] - row0, qleft = a.q_offsets[b + 1] - qblock;
    nrows = left <= 0 ? 0 : (left < R ? static_cast<int>(left) : R);
    block_rows = qleft < warps * R ? static_cast<int>(qleft) : warps * R;
    k0 = a.k_offsets[b];
    nk = a.k_offsets[b + 1] - k0;
  }
};

// Where a block of the dk/dv kernels sits: sample b, head h, its K keys from kb (n of them
// exist).
template <int K>
struct KeyBlock {
  int64_t h, b, kb;
  int n;
  template <typename T>
  __device__ KeyBlock(const QueryArgs<T>& a) {
    h = blockIdx.y;
    b = tile_sample(a.tiles, a.batch, blockIdx.x);
    kb = a.k_offsets[b] + (static_cast<int64_t>(blockIdx.x) - a.tiles[b]) * K;
    const int64_t kleft = a.k_offsets[b + 1] - kb;
    n = kleft < K ? static_cast<int>(kleft) : K;
  }
};

// Warp-wide: this warp's kRowsPerWarp rows of src ([rows, heads, width], from row0, nrows of
// them) as fp32 times `mul` into dst (row stride `stride` >= width), zeros elsewhere.
template <typename T>
__device__ __forceinline__ void load_warp_rows(float* dst, int stride, const T* src, int64_t row0, int nrows,
                                               int64_t heads, int64_t h, int width, float mul) {
  for (int idx = threadIdx.x & 31; idx < kRowsPerWarp * stride; idx += 32) {
    const int r = idx / stride, x = idx - r * stride;
    dst[idx] = (r < nrows && x < width) ? to_float(src[((row0 + r) * heads + h) * width + x]) * mul : 0.f;
  }
}

// ---------------------------------------------------------------------------------------------
// Forward.
template <typename TQ, typename TK, int C, typename Keys>
__global__ void __launch_bounds__(256) attention_forward_kernel(QueryArgs<TQ> a, Keys keys) {
  extern __shared__ float4 smem_f4[];
  float* smem = reinterpret_cast<float*>(smem_f4);
  const int warps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const QueryBlock<kRowsPerWarp> blk(a, warps, warp);
  const int64_t h = blk.h, row0 = blk.row0, k0 = blk.k0, nk = blk.nk;
  const int nrows = blk.nrows;

  float* Ks = smem;
  float* Vs = Keys::kShared ? Ks : Ks + kFwdKeys * a.ks;
  float* valid = (Keys::kShared ? Ks + kFwdKeys * a.ks : Vs + kFwdKeys * a.vs);
  float* Qs = valid + kFwdKeys + warp * kRowsPerWarp * a.dp;
  float* Ps = valid + kFwdKeys + warps * kRowsPerWarp * a.dp + warp * kRowsPerWarp * kFwdKeys;
  const int vstride = Keys::kShared ? a.ks : a.vs;

  load_warp_rows(Qs, a.dp, a.q, row0, nrows, a.heads, h, a.d, a.scale);
  float m[kRowsPerWarp], l[kRowsPerWarp], o[kRowsPerWarp][C];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    m[r] = neg_inf();
    l[r] = 0.f;
#pragma unroll
    for (int c = 0; c < C; ++c) o[r][c] = 0.f;
  }

  for (int64_t t0 = 0; t0 < nk; t0 += kFwdKeys) {
    const int n = static_cast<int>(nk - t0 < kFwdKeys ? nk - t0 : kFwdKeys);
    __syncthreads();  // every warp is done with the previous tile
    load_kv_tile<TK>(keys, k0 + t0, n, kFwdKeys, h, Ks, a.ks, Vs, a.vs, valid);
    __syncthreads();
    if (nrows == 0) continue;  // warp-uniform
    float s0[kRowsPerWarp], s1[kRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) s0[r] = s1[r] = 0.f;
    const float* ka = Ks + lane * a.ks;
    const float* kb = Ks + (lane + 32) * a.ks;
    for (int x = 0; x < a.dp; x += 4) {
      const float4 va = lds4(ka + x), vb = lds4(kb + x);
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const float4 qv = lds4(Qs + r * a.dp + x);
        s0[r] = dot4(qv, va, s0[r]);
        s1[r] = dot4(qv, vb, s1[r]);
      }
    }
    const bool ok0 = valid[lane] != 0.f, ok1 = valid[lane + 32] != 0.f;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const float a0 = ok0 ? s0[r] : neg_inf(), a1 = ok1 ? s1[r] : neg_inf();
      const float mn = fmaxf(m[r], warp_max(fmaxf(a0, a1)));
      float alpha = 1.f, p0 = 0.f, p1 = 0.f;
      if (mn != neg_inf()) {
        alpha = __expf(m[r] - mn);
        p0 = __expf(a0 - mn);
        p1 = __expf(a1 - mn);
      }
      l[r] = l[r] * alpha + warp_sum(p0 + p1);
      m[r] = mn;
#pragma unroll
      for (int c = 0; c < C; ++c) o[r][c] *= alpha;
      Ps[r * kFwdKeys + lane] = p0;
      Ps[r * kFwdKeys + lane + 32] = p1;
    }
    __syncwarp();
    const int n4 = (n + 3) & ~3;  // rows past n are zero, their p is 0
    for (int j = 0; j < n4; j += 4) {
      float4 pr[kRowsPerWarp];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) pr[r] = lds4(Ps + r * kFwdKeys + j);
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
        const float* vrow = Vs + (j + jj) * vstride;
#pragma unroll
        for (int c = 0; c < C; ++c) {
          const int e = lane + 32 * c;
          const float vv = e < a.dv ? vrow[e] : 0.f;
#pragma unroll
          for (int r = 0; r < kRowsPerWarp; ++r) o[r][c] = fmaf(comp(pr[r], jj), vv, o[r][c]);
        }
      }
    }
    __syncwarp();
  }

#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    if (r >= nrows) break;
    const float inv = l[r] > 0.f ? 1.f / l[r] : 0.f;
    const int64_t row = (row0 + r) * a.heads + h;
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const int e = lane + 32 * c;
      if (e < a.dv) a.out[row * a.dv + e] = from_float<TQ>(o[r][c] * inv);
    }
    if (lane == 0) a.lse[row] = l[r] > 0.f ? m[r] + logf(l[r]) : neg_inf();
  }
}

// ---------------------------------------------------------------------------------------------
// dd[row] = sum_e grad_out[row, e] * out[row, e]: one warp per row.
template <typename T>
__global__ void rowdot_kernel(const T* __restrict__ g, const T* __restrict__ o, float* __restrict__ dd,
                              int64_t rows, int width) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); row < rows;
       row += warps) {
    float s = 0.f;
    for (int x = lane; x < width; x += 32) s = fmaf(to_float(g[row * width + x]), to_float(o[row * width + x]), s);
    s = warp_sum(s);
    if (lane == 0) dd[row] = s;
  }
}

// ---------------------------------------------------------------------------------------------
// dq = scale * sum_j dS_ij k_j, dS_ij = P_ij (dO_i . v_j - dd_i), P recomputed from the lse.
template <typename TQ, typename TK, int C, typename Keys>
__global__ void __launch_bounds__(256) attention_dq_kernel(QueryArgs<TQ> a, Keys keys) {
  extern __shared__ float4 smem_f4[];
  float* smem = reinterpret_cast<float*>(smem_f4);
  const int warps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const QueryBlock<kRowsPerWarp> blk(a, warps, warp);
  const int64_t h = blk.h, row0 = blk.row0, k0 = blk.k0, nk = blk.nk;
  const int nrows = blk.nrows;

  float* Ks = smem;
  float* Vs = Keys::kShared ? Ks : Ks + kFwdKeys * a.ks;
  float* valid = (Keys::kShared ? Ks + kFwdKeys * a.ks : Vs + kFwdKeys * a.vs);
  float* Qs = valid + kFwdKeys + warp * kRowsPerWarp * a.dp;
  float* Gs = valid + kFwdKeys + warps * kRowsPerWarp * a.dp + warp * kRowsPerWarp * a.dvp;
  float* DS = valid + kFwdKeys + warps * kRowsPerWarp * (a.dp + a.dvp) + warp * kRowsPerWarp * kFwdKeys;
  const int vstride = Keys::kShared ? a.ks : a.vs;

  load_warp_rows(Qs, a.dp, a.q, row0, nrows, a.heads, h, a.d, a.scale);
  load_warp_rows(Gs, a.dvp, a.grad_out, row0, nrows, a.heads, h, a.dv, 1.f);
  float lse[kRowsPerWarp], dd[kRowsPerWarp], acc[kRowsPerWarp][C];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int64_t row = (row0 + r) * a.heads + h;
    lse[r] = r < nrows ? a.lse[row] : neg_inf();
    dd[r] = r < nrows ? a.dd[row] : 0.f;
#pragma unroll
    for (int c = 0; c < C; ++c) acc[r][c] = 0.f;
  }

  for (int64_t t0 = 0; t0 < nk; t0 += kFwdKeys) {
    const int n = static_cast<int>(nk - t0 < kFwdKeys ? nk - t0 : kFwdKeys);
    __syncthreads();
    load_kv_tile<TK>(keys, k0 + t0, n, kFwdKeys, h, Ks, a.ks, Vs, a.vs, valid);
    __syncthreads();
    if (nrows == 0) continue;
    float s0[kRowsPerWarp], s1[kRowsPerWarp], g0[kRowsPerWarp], g1[kRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) s0[r] = s1[r] = g0[r] = g1[r] = 0.f;
    {
      const float* ka = Ks + lane * a.ks;
      const float* kb = Ks + (lane + 32) * a.ks;
      for (int x = 0; x < a.dp; x += 4) {
        const float4 va = lds4(ka + x), vb = lds4(kb + x);
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) {
          const float4 qv = lds4(Qs + r * a.dp + x);
          s0[r] = dot4(qv, va, s0[r]);
          s1[r] = dot4(qv, vb, s1[r]);
        }
      }
      const float* va_row = Vs + lane * vstride;
      const float* vb_row = Vs + (lane + 32) * vstride;
      for (int x = 0; x < a.dvp; x += 4) {
        const float4 va = lds4(va_row + x), vb = lds4(vb_row + x);
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) {
          const float4 gv = lds4(Gs + r * a.dvp + x);
          g0[r] = dot4(gv, va, g0[r]);
          g1[r] = dot4(gv, vb, g1[r]);
        }
      }
    }
    const bool ok0 = valid[lane] != 0.f, ok1 = valid[lane + 32] != 0.f;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const bool any = lse[r] != neg_inf();
      const float p0 = (ok0 && any) ? __expf(s0[r] - lse[r]) : 0.f;
      const float p1 = (ok1 && any) ? __expf(s1[r] - lse[r]) : 0.f;
      DS[r * kFwdKeys + lane] = p0 * (g0[r] - dd[r]);
      DS[r * kFwdKeys + lane + 32] = p1 * (g1[r] - dd[r]);
    }
    __syncwarp();
    const int n4 = (n + 3) & ~3;
    for (int j = 0; j < n4; j += 4) {
      float4 ds[kRowsPerWarp];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) ds[r] = lds4(DS + r * kFwdKeys + j);
#pragma unroll
      for (int jj = 0; jj < 4; ++jj) {
        const float* krow = Ks + (j + jj) * a.ks;
#pragma unroll
        for (int c = 0; c < C; ++c) {
          const int x = lane + 32 * c;
          const float kv = x < a.d ? krow[x] : 0.f;
#pragma unroll
          for (int r = 0; r < kRowsPerWarp; ++r) acc[r][c] = fmaf(comp(ds[r], jj), kv, acc[r][c]);
        }
      }
    }
    __syncwarp();
  }

#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    if (r >= nrows) break;
    const int64_t row = (row0 + r) * a.heads + h;
#pragma unroll
    for (int c = 0; c < C; ++c) {
      const int x = lane + 32 * c;
      if (x < a.d) a.dq[row * a.d + x] = from_float<TQ>(acc[r][c] * a.scale);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// dk_j = scale * sum_i dS_ij q_i and dv_j = sum_i P_ij dO_i over all queries of the sample.
// Block: 4 warps, 32 keys (lane j = key j). Warp w computes P and dS for queries 4w..4w+3 of
// each chunk of 16, then accumulates the float4 column chunks w, w + 4, ... of dk and dv.
template <typename T, int C>
__global__ void __launch_bounds__(kDkvThreads) attention_dkv_kernel(QueryArgs<T> a, RaggedKeys<T> keys,
                                                                    T* __restrict__ dk, T* __restrict__ dv) {
  constexpr int CH = 2 * C;  // 32 * C dims = 8 * C float4 chunks, over 4 warps
  extern __shared__ float4 smem_f4[];
  float* smem = reinterpret_cast<float*>(smem_f4);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const KeyBlock<kDkvKeys> blk(a);
  const int64_t h = blk.h, b = blk.b, kb = blk.kb;
  const int n = blk.n;

  float* Ks = smem;
  float* Vs = Ks + kDkvKeys * a.ks;
  float* valid = Vs + kDkvKeys * a.vs;
  float* Qc = valid + kDkvKeys;
  float* Gc = Qc + kDkvQueries * a.dp;
  float* Pc = Gc + kDkvQueries * a.dvp;
  float* DSc = Pc + kDkvQueries * kDkvKeys;
  float* lse_c = DSc + kDkvQueries * kDkvKeys;
  float* dd_c = lse_c + kDkvQueries;

  load_kv_tile<T>(keys, kb, n, kDkvKeys, h, Ks, a.ks, Vs, a.vs, valid);

  float4 acc_k[CH], acc_v[CH];
#pragma unroll
  for (int t = 0; t < CH; ++t) acc_k[t] = acc_v[t] = make_float4(0.f, 0.f, 0.f, 0.f);

  const int64_t qb = a.q_offsets[b], qe = a.q_offsets[b + 1];
  for (int64_t i0 = qb; i0 < qe; i0 += kDkvQueries) {
    const int nq = static_cast<int>(qe - i0 < kDkvQueries ? qe - i0 : kDkvQueries);
    __syncthreads();  // the previous chunk is consumed (and the K/V tile is loaded)
    for (int idx = threadIdx.x; idx < kDkvQueries * a.dp; idx += blockDim.x) {
      const int r = idx / a.dp, x = idx - r * a.dp;
      Qc[idx] = (r < nq && x < a.d) ? to_float(a.q[((i0 + r) * a.heads + h) * a.d + x]) * a.scale : 0.f;
    }
    for (int idx = threadIdx.x; idx < kDkvQueries * a.dvp; idx += blockDim.x) {
      const int r = idx / a.dvp, x = idx - r * a.dvp;
      Gc[idx] = (r < nq && x < a.dv) ? to_float(a.grad_out[((i0 + r) * a.heads + h) * a.dv + x]) : 0.f;
    }
    if (threadIdx.x < kDkvQueries) {
      const int r = threadIdx.x;
      lse_c[r] = r < nq ? a.lse[(i0 + r) * a.heads + h] : neg_inf();
      dd_c[r] = r < nq ? a.dd[(i0 + r) * a.heads + h] : 0.f;
    }
    __syncthreads();
    {
      float s[4] = {0.f, 0.f, 0.f, 0.f}, g[4] = {0.f, 0.f, 0.f, 0.f};
      const float* krow = Ks + lane * a.ks;
      const float* vrow = Vs + lane * a.vs;
      for (int x = 0; x < a.dp; x += 4) {
        const float4 kv = lds4(krow + x);
#pragma unroll
        for (int i = 0; i < 4; ++i) s[i] = dot4(lds4(Qc + (4 * warp + i) * a.dp + x), kv, s[i]);
      }
      for (int x = 0; x < a.dvp; x += 4) {
        const float4 vv = lds4(vrow + x);
#pragma unroll
        for (int i = 0; i < 4; ++i) g[i] = dot4(lds4(Gc + (4 * warp + i) * a.dvp + x), vv, g[i]);
      }
      const bool ok = valid[lane] != 0.f;
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int r = 4 * warp + i;
        const float L = lse_c[r];
        const float p = (ok && L != neg_inf()) ? __expf(s[i] - L) : 0.f;
        Pc[r * kDkvKeys + lane] = p;
        DSc[r * kDkvKeys + lane] = p * (g[i] - dd_c[r]);
      }
    }
    __syncthreads();
    for (int r = 0; r < nq; ++r) {
      const float p = Pc[r * kDkvKeys + lane], ds = DSc[r * kDkvKeys + lane];
#pragma unroll
      for (int t = 0; t < CH; ++t) {
        const int x = 4 * (warp + 4 * t);
        if (x < a.dvp) axpy4(acc_v[t], p, lds4(Gc + r * a.dvp + x));
        if (x < a.dp) axpy4(acc_k[t], ds, lds4(Qc + r * a.dp + x));  // Qc holds scale * q
      }
    }
  }

  if (lane < n) {
    const int64_t row = (kb + lane) * a.heads + h;
#pragma unroll
    for (int t = 0; t < CH; ++t) {
      const int x = 4 * (warp + 4 * t);
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        if (x + u < a.dv) dv[row * a.dv + x + u] = from_float<T>(comp(acc_v[t], u));
        if (x + u < a.d) dk[row * a.d + x + u] = from_float<T>(comp(acc_k[t], u));
      }
    }
  }
}
}  // namespace
}  // namespace lemur::cuda::attn
