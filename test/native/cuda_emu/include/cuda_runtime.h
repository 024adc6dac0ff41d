// A CPU emulation of the CUDA runtime subset the lemur kernels use, for checking their logic on
// machines without a GPU: every CUDA thread of a block is a std::thread; __syncthreads,
// __syncwarp and warp shuffles are barriers; blocks run one after another. Slow, small inputs
// only. Kernel launches are rewritten by run.sh from `k<<<cfg>>>(args)` to
// `k * emu::LaunchCfg{cfg}(args)`, and `extern __shared__ float4 smem_f4[];` to emu::smem().
#pragma once
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct float2 { float x, y; };
struct float4 { float x, y, z, w; };
struct uint2 { unsigned x, y; };
struct uint4 { unsigned x, y, z, w; };
inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }

struct CUstream_st;
typedef CUstream_st* cudaStream_t;
typedef int cudaError_t;
constexpr cudaError_t cudaSuccess = 0;
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorString(cudaError_t) { return "emulated error"; }
template <typename F>
inline cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int) { return cudaSuccess; }

inline int64_t min(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max(int64_t a, int64_t b) { return a > b ? a : b; }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }

namespace emu {
struct Block {
  std::unique_ptr<std::barrier<>> all;
  std::vector<std::unique_ptr<std::barrier<>>> warps;
  std::vector<float> exchange;  // 32 per warp
  std::vector<float4> smem;
};
inline thread_local dim3 t_thread, t_block;
inline dim3 g_block_dim, g_grid_dim;
inline thread_local Block* t_current = nullptr;
template <typename T>
T* smem() { return reinterpret_cast<T*>(t_current->smem.data()); }
}  // namespace emu

#define threadIdx (emu::t_thread)
#define blockIdx (emu::t_block)
#define blockDim (emu::g_block_dim)
#define gridDim (emu::g_grid_dim)

inline void __syncthreads() { emu::t_current->all->arrive_and_wait(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::t_current->warps[emu::t_thread.x / 32]->arrive_and_wait(); }
inline float __shfl_xor_sync(unsigned, float v, int o) {
  const unsigned w = emu::t_thread.x / 32, lane = emu::t_thread.x % 32;
  float* ex = emu::t_current->exchange.data() + 32 * w;
  __syncwarp();
  ex[lane] = v;
  __syncwarp();
  const float r = ex[lane ^ static_cast<unsigned>(o)];
  __syncwarp();
  return r;
}

namespace emu {
template <typename... A>
struct Pending {
  dim3 grid, block;
  size_t smem_bytes;
  std::tuple<A...> args;
};
struct LaunchCfg {
  dim3 grid, block;
  size_t smem_bytes;
  cudaStream_t stream;
  template <typename... A>
  Pending<std::decay_t<A>...> operator()(A&&... a) const {
    return {grid, block, smem_bytes, std::tuple<std::decay_t<A>...>(std::forward<A>(a)...)};
  }
};
template <typename... P, typename... A>
void operator*(void (*fn)(P...), Pending<A...>&& p) {
  if (p.block.x % 32 != 0) throw std::runtime_error("emu: block size must be a multiple of 32");
  g_block_dim = p.block;
  g_grid_dim = p.grid;
  for (unsigned by = 0; by < p.grid.y; ++by)
    for (unsigned bx = 0; bx < p.grid.x; ++bx) {
      Block blk;
      const unsigned n = p.block.x;
      blk.all = std::make_unique<std::barrier<>>(n);
      for (unsigned w = 0; w < n / 32; ++w) blk.warps.push_back(std::make_unique<std::barrier<>>(32));
      blk.exchange.assign(n, 0.f);
      blk.smem.assign(p.smem_bytes / sizeof(float4) + 1, float4{NAN, NAN, NAN, NAN});  // poison
      std::vector<std::thread> threads;
      for (unsigned t = 0; t < n; ++t)
        threads.emplace_back([&, t] {
          t_thread = dim3(t, 0, 0);
          t_block = dim3(bx, by, 0);
          t_current = &blk;
          std::apply([&](auto&... a) { fn(a...); }, p.args);
        });
      for (auto& th : threads) th.join();
    }
}
}  // namespace emu
