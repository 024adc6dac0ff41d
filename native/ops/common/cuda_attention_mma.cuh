// Tensor-core attention kernels (16-bit q/k/v of one dtype, head dims multiples of 16, <= 128):
// the same tiling and outputs as the CUDA-core kernels of cuda_attention.cuh, with the matrix
// products as 16x16x16 wmma products accumulated in fp32. Plain CUDA, included through
// cuda_attention_launch.cuh.
//
// Key/value tiles of the forward and dq kernels are double-buffered: tile t + 1 is copied into
// shared memory with cp.async (16-byte rows, no register staging) while the block computes on
// tile t, so every warp keeps a whole tile of loads in flight instead of one load per thread.
#pragma once
#include <cuda_pipeline.h>
#include <mma.h>

#include "ops/common/cuda_attention.cuh"

namespace lemur::cuda::attn {
namespace {

constexpr int kMmaRows = 16;  // query rows per warp

__host__ __device__ __forceinline__ size_t align32(size_t bytes) { return (bytes + 31) & ~size_t{31}; }

// Block-wide copy of `rows` rows of `width` elements (16-byte words when vec) into dst
// (row stride ld elements); src(r) == nullptr gives a zero row. Columns [width, ld) untouched.
template <typename T, typename Src>
__device__ __forceinline__ void copy_rows(T* dst, int ld, int rows, int width, bool vec, Src src) {
  if (vec) {
    const int words = width / 8;  // 8 x 16-bit per 16 bytes
    for (int idx = threadIdx.x; idx < rows * words; idx += blockDim.x) {
      const int r = idx / words, w = idx - r * words;
      const T* p = src(r);
      uint4 v = make_uint4(0u, 0u, 0u, 0u);
      if (p != nullptr) v = reinterpret_cast<const uint4*>(p)[w];
      reinterpret_cast<uint4*>(dst + r * ld)[w] = v;
    }
  } else {
    for (int idx = threadIdx.x; idx < rows * width; idx += blockDim.x) {
      const int r = idx / width, x = idx - r * width;
      const T* p = src(r);
      dst[r * ld + x] = p != nullptr ? p[x] : from_float<T>(0.f);
    }
  }
}

// As copy_rows, asynchronously where rows are 16-byte aligned: the copies land after this
// thread's __pipeline_wait_prior and are visible block-wide after the __syncthreads that
// follows it. Zero rows and unaligned rows are plain stores.
template <typename T, typename Src>
__device__ __forceinline__ void copy_rows_async(T* dst, int ld, int rows, int width, bool vec, Src src) {
  if (vec) {
    const int words = width / 8;
    for (int idx = threadIdx.x; idx < rows * words; idx += blockDim.x) {
      const int r = idx / words, w = idx - r * words;
      const T* p = src(r);
      uint4* d = reinterpret_cast<uint4*>(dst + r * ld) + w;
      if (p != nullptr)
        __pipeline_memcpy_async(d, reinterpret_cast<const uint4*>(p) + w, sizeof(uint4));
      else
        *d = make_uint4(0u, 0u, 0u, 0u);
    }
  } else {
    copy_rows<T>(dst, ld, rows, width, false, src);
  }
}

// Two key/value tile buffers of `rows` keys with their presence flags and row pointers; the
// second buffer is the first shifted by `stride` bytes (no arrays: a runtime-indexed array in a
// kernel's struct would live in local memory).
struct KvTileLayout {
  int rows, ldk, ldv;
  size_t k, v, valid, kptr, vptr, stride, end;  // byte offsets of buffer 0; buffer size
  __host__ __device__ KvTileLayout(size_t start, int tile_rows, int d, int dv, bool shared_kv, size_t elem) {
    rows = tile_rows;
    ldk = d + 8;
    ldv = shared_kv ? ldk : dv + 8;
    size_t off = start;
    k = off;
    off += align32(elem * rows * ldk);
    v = k;
    if (!shared_kv) {
      v = off;
      off += align32(elem * rows * ldv);
    }
    valid = off;
    off += align32(sizeof(float) * rows);
    kptr = vptr = off;
    off += align32(sizeof(void*) * rows);
    if (!shared_kv) {
      vptr = off;
      off += align32(sizeof(void*) * rows);
    }
    stride = off - start;
    end = start + 2 * stride;
  }
};

// The key tile of n keys starting at key kstart, into buffer buf: first its flags and row
// pointers (kv_tile_rows), then, after a __syncthreads, the row copies (kv_tile_copy, one
// committed cp.async group per thread).
template <typename T, typename Keys>
__device__ __forceinline__ void kv_tile_rows(const Keys& keys, const KvTileLayout& L, char* base, int buf,
                                             int64_t kstart, int n, int64_t h) {
  float* valid = reinterpret_cast<float*>(base + (L.valid + buf * L.stride));
  const T** kp = reinterpret_cast<const T**>(base + (L.kptr + buf * L.stride));
  const T** vp = reinterpret_cast<const T**>(base + (L.vptr + buf * L.stride));
  for (int j = threadIdx.x; j < L.rows; j += blockDim.x) {
    const bool ok = j < n && keys.present(kstart + j);
    valid[j] = ok ? 1.f : 0.f;
    kp[j] = ok ? keys.key(kstart + j, h) : nullptr;
    if (!Keys::kShared) vp[j] = ok ? keys.value(kstart + j, h) : nullptr;
  }
}
template <typename T, typename Keys>
__device__ __forceinline__ void kv_tile_copy(const Keys& keys, const KvTileLayout& L, char* base, int buf) {
  const T* const* kp = reinterpret_cast<const T* const*>(base + (L.kptr + buf * L.stride));
  copy_rows_async<T>(reinterpret_cast<T*>(base + (L.k + buf * L.stride)), L.ldk, L.rows, keys.d, keys.kvec16,
                     [&](int r) { return kp[r]; });
  if (!Keys::kShared) {
    const T* const* vp = reinterpret_cast<const T* const*>(base + (L.vptr + buf * L.stride));
    copy_rows_async<T>(reinterpret_cast<T*>(base + (L.v + buf * L.stride)), L.ldv, L.rows, keys.dv, keys.vvec16,
                       [&](int r) { return vp[r]; });
  }
  __pipeline_commit();
}
__device__ __forceinline__ int tile_keys(int64_t nk, int64_t t, int rows) {
  const int64_t left = nk - t * rows;
  return static_cast<int>(left < rows ? left : rows);
}

// Block-wide: body(Ks, Vs, valid) for each of the sample's key tiles in order, tile t + 1 being
// copied (cp.async) while body works on tile t. Every thread of the block calls this; there is
// a barrier before each body call (so shared memory the caller set up before is visible) and
// after it (so body's shared-memory reads are done before the buffer is refilled).
template <typename T, typename Keys, typename Body>
__device__ __forceinline__ void for_each_kv_tile(const Keys& keys, const KvTileLayout& L, char* base, int64_t k0,
                                                 int64_t nk, int64_t h, Body&& body) {
  const int64_t ntiles = (nk + L.rows - 1) / L.rows;
  if (ntiles == 0) return;
  kv_tile_rows<T>(keys, L, base, 0, k0, tile_keys(nk, 0, L.rows), h);
  __syncthreads();
  kv_tile_copy<T>(keys, L, base, 0);
  for (int64_t t = 0; t < ntiles; ++t) {
    const int cur = static_cast<int>(t & 1);
    if (t + 1 < ntiles) kv_tile_rows<T>(keys, L, base, cur ^ 1, k0 + (t + 1) * L.rows, tile_keys(nk, t + 1, L.rows), h);
    __pipeline_wait_prior(0);
    __syncthreads();  // tile t has landed; tile t + 1's row pointers are set
    if (t + 1 < ntiles) kv_tile_copy<T>(keys, L, base, cur ^ 1);  // overlaps the work on tile t
    body(reinterpret_cast<const T*>(base + (L.k + cur * L.stride)), reinterpret_cast<const T*>(base + (L.v + cur * L.stride)),
         reinterpret_cast<const float*>(base + (L.valid + cur * L.stride)));
    __syncthreads();  // every warp is done with tile t before its buffer is refilled
  }
}

// ---------------------------------------------------------------------------------------------
// Warp-level products on 16-row tiles in shared memory (16-bit inputs, fp32 accumulators).
using AccFrag = nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float>;

// acc += A B^T: A [16 x 16 k_tiles] and B [16 x 16 k_tiles], both row-major (B^T read as a
// column-major operand).
template <typename T>
__device__ __forceinline__ void mma_abt(AccFrag& acc, const T* A, int lda, const T* B, int ldb, int k_tiles) {
  using namespace nvcuda;
  for (int kt = 0; kt < k_tiles; ++kt) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb;
    wmma::load_matrix_sync(fa, A + kt * 16, lda);
    wmma::load_matrix_sync(fb, B + kt * 16, ldb);
    wmma::mma_sync(acc, fa, fb, acc);
  }
}

// acc += A B: A [16 x 16 k_tiles] and B [16 k_tiles x 16], both row-major.
template <typename T>
__device__ __forceinline__ void mma_ab(AccFrag& acc, const T* A, int lda, const T* B, int ldb, int k_tiles) {
  using namespace nvcuda;
#pragma unroll 4
  for (int kt = 0; kt < k_tiles; ++kt) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> fb;
    wmma::load_matrix_sync(fa, A + kt * 16, lda);
    wmma::load_matrix_sync(fb, B + kt * 16 * ldb, ldb);
    wmma::mma_sync(acc, fa, fb, acc);
  }
}

// dst (16 x 16 tiles, row-major, ld) = A B^T, one tile per 16 rows of B (n_tiles of them).
template <typename T>
__device__ __forceinline__ void store_abt(float* dst, int ld, const T* A, int lda, const T* B, int ldb, int k_tiles,
                                          int n_tiles) {
  for (int nt = 0; nt < n_tiles; ++nt) {
    AccFrag acc;
    nvcuda::wmma::fill_fragment(acc, 0.f);
    mma_abt(acc, A, lda, B + nt * 16 * ldb, ldb, k_tiles);
    nvcuda::wmma::store_matrix_sync(dst + nt * 16, acc, ld, nvcuda::wmma::mem_row_major);
  }
}

// Warp-wide epilogue: the first `tiles` accumulators (16 rows, columns 16 nt ...) through the
// staging area (ld floats a row), then rows [0, rows) x [0, width) to row(r)[x] = value(r, v),
// row-contiguously (coalesced).
template <int NT, typename Row, typename Value>
__device__ __forceinline__ void write_acc_rows(const AccFrag (&acc)[NT], int tiles, float* stage, int ld, int rows,
                                               int width, Row row, Value value) {
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
    if (nt < tiles) nvcuda::wmma::store_matrix_sync(stage + nt * 16, acc[nt], ld, nvcuda::wmma::mem_row_major);
  __syncwarp();
  for (int idx = (threadIdx.x & 31); idx < rows * width; idx += 32) {
    const int r = idx / width, x = idx - r * width;
    row(r)[x] = value(r, stage[r * ld + x]);
  }
  __syncwarp();
}

// ---------------------------------------------------------------------------------------------
// Forward on tensor cores: the tiling of attention_forward_kernel, but each warp owns 16 query
// rows, key tiles have KT keys (32 for one-warp blocks, halving their shared memory so that
// twice as many fit on a multiprocessor; 64 otherwise), and each warp computes S = Q K^T and
// O += P V as wmma products (fp32 accumulation). S goes through shared memory for the online
// softmax (2 lanes per row), which writes P in 16-bit. The running O stays in accumulator
// fragments; its rows are rescaled in registers, each element finding
// its row through `rowid`, an accumulator loaded from a matrix of row indices (the fragment
// layout is opaque but shared by all accumulators of one shape). NT >= dv / 16.
struct FwdMmaLayout {
  int ldq, lds, ldp, ldo;
  KvTileLayout kv;
  size_t q, warp0, per_warp, s, p, stats, total;
  __host__ __device__ FwdMmaLayout(int warps, int kt, int d, int dv, bool shared_kv, size_t elem)
      : kv(align32(elem * warps * kMmaRows * (d + 8)), kt, d, dv, shared_kv, elem) {
    ldq = d + 8;
    lds = kt + 4;
    ldp = kt + 8;
    ldo = dv + 4;
    q = 0;
    warp0 = kv.end;
    s = 0;  // S, then the O epilogue
    const size_t s_bytes = align32(sizeof(float) * kMmaRows * lds), o_bytes = align32(sizeof(float) * kMmaRows * ldo);
    p = s_bytes > o_bytes ? s_bytes : o_bytes;
    stats = p + align32(elem * kMmaRows * ldp);
    per_warp = stats + align32(sizeof(float) * 3 * kMmaRows);  // m, l, alpha
    total = warp0 + warps * per_warp;
  }
};

template <typename T, int NT, int KT, typename Keys>
__global__ void __launch_bounds__(128) attention_forward_mma_kernel(QueryArgs<T> a, Keys keys, bool qvec) {
  using namespace nvcuda;
  extern __shared__ __align__(128) float4 smem_mma[];  // wmma tiles need 32-byte alignment
  char* base = reinterpret_cast<char*>(smem_mma);
  const int warps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const QueryBlock<kMmaRows> blk(a, warps, warp);
  const int64_t h = blk.h, qblock = blk.qblock, row0 = blk.row0;
  const int nrows = blk.nrows, block_rows = blk.block_rows;
  const FwdMmaLayout L(warps, KT, a.d, a.dv, Keys::kShared, sizeof(T));

  T* Qs = reinterpret_cast<T*>(base + L.q);
  char* mine = base + L.warp0 + warp * L.per_warp;
  float* Sw = reinterpret_cast<float*>(mine + L.s);
  T* Pw = reinterpret_cast<T*>(mine + L.p);
  float* mrow = reinterpret_cast<float*>(mine + L.stats);
  float* lrow = mrow + kMmaRows;
  float* arow = lrow + kMmaRows;

  copy_rows<T>(Qs, L.ldq, warps * kMmaRows, a.d, qvec, [&](int r) -> const T* {
    return r < block_rows ? a.q + ((qblock + r) * a.heads + h) * a.d : nullptr;
  });
  for (int idx = lane; idx < 16 * 16; idx += 32) Sw[(idx >> 4) * L.lds + (idx & 15)] = static_cast<float>(idx >> 4);
  if (lane < kMmaRows) {
    mrow[lane] = neg_inf();
    lrow[lane] = 0.f;
  }
  __syncwarp();
  AccFrag rowid, o_acc[NT];
  wmma::load_matrix_sync(rowid, Sw, L.lds, wmma::mem_row_major);
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) wmma::fill_fragment(o_acc[nt], 0.f);
  const int dvt = a.dv / 16;
  const T* Qw = Qs + warp * kMmaRows * L.ldq;
  const int r = lane >> 1, c0 = (lane & 1) * (KT / 2);  // softmax: 2 lanes per row

  for_each_kv_tile<T>(keys, L.kv, base, blk.k0, blk.nk, h, [&](const T* Ks, const T* Vs, const float* valid) {
    if (nrows > 0) {  // warp-uniform
      // S = Q K^T for this warp's 16 rows and the tile's 64 keys.
      store_abt(Sw, L.lds, Qw, L.ldq, Ks, L.kv.ldk, a.d / 16, KT / 16);
      __syncwarp();

      // Online softmax: lanes 2r and 2r+1 own row r, 32 keys each.
      {
        float mx = neg_inf();
        for (int c = c0; c < c0 + KT / 2; ++c)
          if (valid[c] != 0.f) mx = fmaxf(mx, Sw[r * L.lds + c] * a.scale);
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        const float m_old = mrow[r];
        const float m_new = fmaxf(m_old, mx);
        const float alpha = m_new == neg_inf() ? 1.f : __expf(m_old - m_new);
        float sum = 0.f;
        for (int c = c0; c < c0 + KT / 2; ++c) {
          const float p =
              (valid[c] != 0.f && m_new != neg_inf()) ? __expf(Sw[r * L.lds + c] * a.scale - m_new) : 0.f;
          Pw[r * L.ldp + c] = from_float<T>(p);
          sum += p;
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        __syncwarp();
        if ((lane & 1) == 0) {
          lrow[r] = lrow[r] * alpha + sum;
          mrow[r] = m_new;
          arow[r] = alpha;
        }
      }
      __syncwarp();

      // O = alpha O + P V, in registers.
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        if (nt < dvt) {
          for (int i = 0; i < o_acc[nt].num_elements; ++i) o_acc[nt].x[i] *= arow[static_cast<int>(rowid.x[i])];
          mma_ab(o_acc[nt], Pw, L.ldp, Vs + nt * 16, L.kv.ldv, KT / 16);
        }
      }
      __syncwarp();
    }
  });

  // Epilogue: O / l through the warp's S area; the log-sum-exp per row.
  if (nrows == 0) return;
  write_acc_rows(
      o_acc, dvt, Sw, L.ldo, nrows, a.dv, [&](int rr) { return a.out + ((row0 + rr) * a.heads + h) * a.dv; },
      [&](int rr, float o) { return from_float<T>(lrow[rr] > 0.f ? o / lrow[rr] : 0.f); });
  if (lane < nrows) {
    const float l = lrow[lane];
    a.lse[(row0 + lane) * a.heads + h] = l > 0.f ? mrow[lane] + logf(l) : neg_inf();
  }
}

// ---------------------------------------------------------------------------------------------
// dq on tensor cores: the tiling of attention_forward_mma_kernel (16 query rows per warp, key
// tiles of KT shared by the block, double-buffered). Per tile and warp: S = Q K^T and
// dP = dO V^T (wmma, to shared memory), dS = P (dP - dd) with P = exp(scale S - lse) (16-bit,
// as FlashAttention-2 does), then dQ += dS K with the dQ accumulators held in registers across
// tiles (no online rescaling is needed in the backward). NT >= d / 16 bounds the dQ tiles.
struct DqMmaLayout {
  int ldq, ldg, lds, ldp, ldo;  // row strides, elements
  KvTileLayout kv;
  size_t q, g, warp0, per_warp;  // byte offsets from the start / per warp
  size_t s, dp, ds, stats, total;  // within a warp's area; total bytes
  __host__ __device__ DqMmaLayout(int warps, int kt, int d, int dv, bool shared_kv, size_t elem)
      : kv(align32(elem * warps * kMmaRows * (d + 8)) + align32(elem * warps * kMmaRows * (dv + 8)), kt, d, dv,
           shared_kv, elem) {
    ldq = d + 8;
    ldg = dv + 8;
    lds = kt + 4;
    ldp = kt + 8;
    ldo = d + 4;  // the dQ epilogue reuses the S and dP area
    q = 0;
    g = align32(elem * warps * kMmaRows * ldq);
    warp0 = kv.end;
    const size_t s_bytes = align32(sizeof(float) * kMmaRows * lds);
    const size_t o_bytes = align32(sizeof(float) * kMmaRows * ldo);
    s = 0;
    dp = s_bytes;
    ds = (2 * s_bytes > o_bytes ? 2 * s_bytes : o_bytes);
    stats = ds + align32(elem * kMmaRows * ldp);
    per_warp = stats + align32(sizeof(float) * 2 * kMmaRows);
    total = warp0 + warps * per_warp;
  }
};

template <typename T, int NT, int KT, typename Keys>
__global__ void __launch_bounds__(128) attention_dq_mma_kernel(QueryArgs<T> a, Keys keys, bool qvec, bool gvec) {
  using namespace nvcuda;
  extern __shared__ __align__(128) float4 smem_mma[];
  char* base = reinterpret_cast<char*>(smem_mma);
  const int warps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const QueryBlock<kMmaRows> blk(a, warps, warp);
  const int64_t h = blk.h, qblock = blk.qblock, row0 = blk.row0;
  const int nrows = blk.nrows, block_rows = blk.block_rows;
  const DqMmaLayout L(warps, KT, a.d, a.dv, Keys::kShared, sizeof(T));

  T* Qs = reinterpret_cast<T*>(base + L.q);
  T* Gs = reinterpret_cast<T*>(base + L.g);
  char* mine = base + L.warp0 + warp * L.per_warp;
  float* Sw = reinterpret_cast<float*>(mine + L.s);
  float* DPw = reinterpret_cast<float*>(mine + L.dp);
  T* DSw = reinterpret_cast<T*>(mine + L.ds);
  float* lse_w = reinterpret_cast<float*>(mine + L.stats);
  float* dd_w = lse_w + kMmaRows;

  copy_rows<T>(Qs, L.ldq, warps * kMmaRows, a.d, qvec, [&](int r) -> const T* {
    return r < block_rows ? a.q + ((qblock + r) * a.heads + h) * a.d : nullptr;
  });
  copy_rows<T>(Gs, L.ldg, warps * kMmaRows, a.dv, gvec, [&](int r) -> const T* {
    return r < block_rows ? a.grad_out + ((qblock + r) * a.heads + h) * a.dv : nullptr;
  });
  if (lane < kMmaRows) {
    const int64_t row = (row0 + lane) * a.heads + h;
    lse_w[lane] = lane < nrows ? a.lse[row] : neg_inf();
    dd_w[lane] = lane < nrows ? a.dd[row] : 0.f;
  }
  const T* Qw = Qs + warp * kMmaRows * L.ldq;
  const T* Gw = Gs + warp * kMmaRows * L.ldg;
  const int dt = a.d / 16, dvt = a.dv / 16;
  AccFrag dq_acc[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) wmma::fill_fragment(dq_acc[nt], 0.f);
  const int r = lane >> 1, c0 = (lane & 1) * (KT / 2);  // dS: 2 lanes per row

  for_each_kv_tile<T>(keys, L.kv, base, blk.k0, blk.nk, h, [&](const T* Ks, const T* Vs, const float* valid) {
    if (nrows > 0) {  // warp-uniform
      // S = Q K^T and dP = dO V^T for this warp's 16 rows and the tile's 64 keys.
      store_abt(Sw, L.lds, Qw, L.ldq, Ks, L.kv.ldk, dt, KT / 16);
      store_abt(DPw, L.lds, Gw, L.ldg, Vs, L.kv.ldv, dvt, KT / 16);
      __syncwarp();

      // dS = P (dP - dd), P recomputed from the forward's log-sum-exp; absent keys give 0.
      {
        const float lse = lse_w[r], dd = dd_w[r];
        for (int c = c0; c < c0 + KT / 2; ++c) {
          const float p = (valid[c] != 0.f && lse != neg_inf()) ? __expf(Sw[r * L.lds + c] * a.scale - lse) : 0.f;
          DSw[r * L.ldp + c] = from_float<T>(p * (DPw[r * L.lds + c] - dd));
        }
      }
      __syncwarp();

      // dQ += dS K.
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
        if (nt < dt) mma_ab(dq_acc[nt], DSw, L.ldp, Ks + nt * 16, L.kv.ldk, KT / 16);
      __syncwarp();
    }
  });

  // Epilogue: scale * dQ through the warp's S/dP area.
  if (nrows == 0) return;
  write_acc_rows(
      dq_acc, dt, Sw, L.ldo, nrows, a.d, [&](int rr) { return a.dq + ((row0 + rr) * a.heads + h) * a.d; },
      [&](int, float v) { return from_float<T>(v * a.scale); });
}

// ---------------------------------------------------------------------------------------------
// dk/dv on tensor cores (ragged_attention only): one block of 2 warps per (sample, tile of 32
// keys, head), each warp owning 16 keys, looping over the sample's queries in chunks of 16
// (shared by the block, double-buffered: chunk c + 1 is copied with cp.async while chunk c is
// used; the K/V tile is copied asynchronously with the first chunk). Per chunk: S^T = K Q^T and
// dP^T = V dO^T (wmma), P^T and dS^T = P^T (dP^T - dd) in 16-bit, then dV += P^T dO and
// dK += dS^T Q into register accumulators. Each key's gradient is summed by one warp in query
// order: deterministic.
constexpr int kDkvMmaWarps = kDkvKeys / kMmaRows;

struct DkvMmaLayout {
  int ldk, ldv, ldq, ldg, lds, ldp, ldo;  // row strides, elements
  size_t k, v, valid, q, g, stats, chunk_stride, warp0, per_warp;  // q, g, stats: chunk buffer 0
  size_t st, dpt, pt, dst, o, total;
  __host__ __device__ DkvMmaLayout(int d, int dv, size_t elem) {
    ldk = ldq = d + 8;
    ldv = ldg = dv + 8;
    lds = kMmaRows + 4;
    ldp = kMmaRows + 8;
    ldo = (d > dv ? d : dv) + 4;
    k = 0;
    v = k + align32(elem * kDkvKeys * ldk);
    valid = v + align32(elem * kDkvKeys * ldv);
    q = valid + align32(sizeof(float) * kDkvKeys);
    g = q + align32(elem * kMmaRows * ldq);
    stats = g + align32(elem * kMmaRows * ldg);
    chunk_stride = stats + align32(sizeof(float) * 2 * kMmaRows) - q;
    warp0 = q + 2 * chunk_stride;
    st = 0;
    dpt = st + align32(sizeof(float) * kMmaRows * lds);
    pt = dpt + align32(sizeof(float) * kMmaRows * lds);
    dst = pt + align32(elem * kMmaRows * ldp);
    o = dst + align32(elem * kMmaRows * ldp);
    per_warp = o + align32(sizeof(float) * kMmaRows * ldo);
    total = warp0 + kDkvMmaWarps * per_warp;
  }
};

template <typename T, int NT>
__global__ void __launch_bounds__(kDkvMmaWarps * 32)
    attention_dkv_mma_kernel(QueryArgs<T> a, RaggedKeys<T> keys, T* __restrict__ dk, T* __restrict__ dv, bool qvec,
                             bool gvec) {
  using namespace nvcuda;
  extern __shared__ __align__(128) float4 smem_mma[];
  char* base = reinterpret_cast<char*>(smem_mma);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const KeyBlock<kDkvKeys> blk(a);
  const int64_t h = blk.h, b = blk.b, kb = blk.kb;
  const int n = blk.n;
  const DkvMmaLayout L(a.d, a.dv, sizeof(T));

  T* Ks = reinterpret_cast<T*>(base + L.k);
  T* Vs = reinterpret_cast<T*>(base + L.v);
  float* valid = reinterpret_cast<float*>(base + L.valid);
  char* mine = base + L.warp0 + warp * L.per_warp;
  float* STw = reinterpret_cast<float*>(mine + L.st);
  float* DPTw = reinterpret_cast<float*>(mine + L.dpt);
  T* PTw = reinterpret_cast<T*>(mine + L.pt);
  T* DSTw = reinterpret_cast<T*>(mine + L.dst);
  float* Ow = reinterpret_cast<float*>(mine + L.o);

  const int64_t qb = a.q_offsets[b], qe = a.q_offsets[b + 1];
  const int64_t nchunks = (qe - qb + kMmaRows - 1) / kMmaRows;
  // Query chunk c (rows qb + 16 c ...) into chunk buffer buf: Q and dO rows asynchronously, the
  // log-sum-exp and dd values as plain stores; one committed group.
  auto load_chunk = [&](int64_t c, int buf) {
    const int64_t i0 = qb + c * kMmaRows;
    const int nq = static_cast<int>(qe - i0 < kMmaRows ? qe - i0 : kMmaRows);
    char* cb = base + buf * L.chunk_stride;
    copy_rows_async<T>(reinterpret_cast<T*>(cb + L.q), L.ldq, kMmaRows, a.d, qvec,
                       [&](int r) -> const T* { return r < nq ? a.q + ((i0 + r) * a.heads + h) * a.d : nullptr; });
    copy_rows_async<T>(reinterpret_cast<T*>(cb + L.g), L.ldg, kMmaRows, a.dv, gvec, [&](int r) -> const T* {
      return r < nq ? a.grad_out + ((i0 + r) * a.heads + h) * a.dv : nullptr;
    });
    if (threadIdx.x < kMmaRows) {
      const int r = threadIdx.x;
      float* st = reinterpret_cast<float*>(cb + L.stats);
      st[r] = r < nq ? a.lse[(i0 + r) * a.heads + h] : neg_inf();
      st[kMmaRows + r] = r < nq ? a.dd[(i0 + r) * a.heads + h] : 0.f;
    }
    __pipeline_commit();
  };

  for (int j = threadIdx.x; j < kDkvKeys; j += blockDim.x) valid[j] = (j < n && keys.present(kb + j)) ? 1.f : 0.f;
  __syncthreads();
  if (nchunks > 0) {  // block-uniform; without queries the gradients are zeros
    copy_rows_async<T>(Ks, L.ldk, kDkvKeys, a.d, keys.kvec16,
                       [&](int j) -> const T* { return valid[j] != 0.f ? keys.key(kb + j, h) : nullptr; });
    copy_rows_async<T>(Vs, L.ldv, kDkvKeys, a.dv, keys.vvec16,
                       [&](int j) -> const T* { return valid[j] != 0.f ? keys.value(kb + j, h) : nullptr; });
    load_chunk(0, 0);  // one group: the K/V tile and the first chunk
  }
  const T* Kw = Ks + warp * kMmaRows * L.ldk;
  const T* Vw = Vs + warp * kMmaRows * L.ldv;
  const float* valid_w = valid + warp * kMmaRows;
  const int dt = a.d / 16, dvt = a.dv / 16;
  const int nw = n - warp * kMmaRows <= 0 ? 0 : (n - warp * kMmaRows < kMmaRows ? n - warp * kMmaRows : kMmaRows);
  const int64_t key0 = kb + warp * kMmaRows;

  AccFrag acc_k[NT], acc_v[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    wmma::fill_fragment(acc_k[nt], 0.f);
    wmma::fill_fragment(acc_v[nt], 0.f);
  }

  for (int64_t c = 0; c < nchunks; ++c) {
    const int cur = static_cast<int>(c & 1);
    if (c + 1 < nchunks) load_chunk(c + 1, cur ^ 1);  // its buffer was released by the last barrier
    else __pipeline_commit();                         // an empty group keeps the count below
    __pipeline_wait_prior(1);                         // everything but chunk c + 1 has landed
    __syncthreads();
    const T* Qc = reinterpret_cast<const T*>(base + cur * L.chunk_stride + L.q);
    const T* Gc = reinterpret_cast<const T*>(base + cur * L.chunk_stride + L.g);
    const float* lse_c = reinterpret_cast<const float*>(base + cur * L.chunk_stride + L.stats);
    const float* dd_c = lse_c + kMmaRows;
    if (nw > 0) {  // warp-uniform: a warp whose keys are past the sample's end has nothing to do
      // S^T = K Q^T and dP^T = V dO^T: this warp's 16 keys x the chunk's 16 queries.
      store_abt(STw, L.lds, Kw, L.ldk, Qc, L.ldq, dt, 1);
      store_abt(DPTw, L.lds, Vw, L.ldv, Gc, L.ldg, dvt, 1);
      __syncwarp();

      // P^T and dS^T (row = key, column = query); absent keys and queries without keys give 0.
      for (int idx = lane; idx < kMmaRows * kMmaRows; idx += 32) {
        const int kr = idx >> 4, j = idx & 15;
        const float lse = lse_c[j];
        const float p = (valid_w[kr] != 0.f && lse != neg_inf()) ? __expf(STw[kr * L.lds + j] * a.scale - lse) : 0.f;
        PTw[kr * L.ldp + j] = from_float<T>(p);
        DSTw[kr * L.ldp + j] = from_float<T>(p * (DPTw[kr * L.lds + j] - dd_c[j]));
      }
      __syncwarp();

      // dV += P^T dO and dK += dS^T Q.
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        if (nt < dvt) mma_ab(acc_v[nt], PTw, L.ldp, Gc + nt * 16, L.ldg, 1);
        if (nt < dt) mma_ab(acc_k[nt], DSTw, L.ldp, Qc + nt * 16, L.ldq, 1);
      }
    }
    __syncthreads();  // chunk c is consumed before its buffer is refilled
  }

  // Epilogue: every key of the tile gets its rows (zeros for absent keys or no queries), through
  // the warp's O area. dK carries the softmax scale.
  if (nw == 0) return;
  write_acc_rows(
      acc_v, dvt, Ow, L.ldo, nw, a.dv, [&](int rr) { return dv + ((key0 + rr) * a.heads + h) * a.dv; },
      [](int, float v) { return from_float<T>(v); });
  write_acc_rows(
      acc_k, dt, Ow, L.ldo, nw, a.d, [&](int rr) { return dk + ((key0 + rr) * a.heads + h) * a.d; },
      [&](int, float v) { return from_float<T>(v * a.scale); });
}

}  // namespace
}  // namespace lemur::cuda::attn
