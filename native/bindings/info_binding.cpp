// info(): what this addon was built against and what it sees now (threads, CUDA devices).
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <algorithm>
#include <atomic>
#include <torch/cuda.h>

#include "distributed/process_group.h"

#include "bindings/bindings.h"
#include "core/js_error.h"
#include "core/allocator.h"
#include "core/cpu_caching_allocator.h"
#include "ops/linear/linear.h"
#include "core/threads.h"
#include "lemur_build_config.h"

#ifdef LEMUR_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace lemur {
namespace {

// How many threads lemur's own CPU kernels split a range over: at::parallel_for is compiled
// into the addon, so a build without LibTorch's OpenMP runs it on one thread whatever
// intraOp says (cmake/LemurOpenMP.cmake). Measured, not assumed.
int kernel_threads() {
  uint64_t applied = 0;
  apply_thread_settings(applied);  // this thread's OpenMP count is its own
  std::atomic<uint64_t> seen{0};
  at::parallel_for(0, 64, 1, [&](int64_t, int64_t) {
    seen.fetch_or(uint64_t{1} << std::min(at::get_thread_num(), 63));
  });
  return __builtin_popcountll(seen.load());
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    Napi::Object torch = Napi::Object::New(env);
    torch.Set("version", LEMUR_BUILD_TORCH_VERSION);
    torch.Set("source", LEMUR_BUILD_TORCH_SOURCE);
    torch.Set("library", LEMUR_BUILD_TORCH_LIB);
    torch.Set("cxx11Abi", Napi::Boolean::New(env, LEMUR_BUILD_CXX11_ABI == 1));
    torch.Set("cuda", Napi::Boolean::New(env, std::string(LEMUR_BUILD_TORCH_HAS_CUDA) == "ON"));
    o.Set("torch", torch);

    Napi::Object build = Napi::Object::New(env);
    build.Set("cudaKernels", Napi::Boolean::New(env,
#ifdef LEMUR_WITH_CUDA
                                                true
#else
                                                false
#endif
                                                ));
    build.Set("cudaKernelsCompiled",
              Napi::Boolean::New(env, std::string(LEMUR_BUILD_CUDA_COMPILED) == "ON"));
    build.Set("cudaArchs", LEMUR_BUILD_CUDA_ARCHS);
    build.Set("builtAt", LEMUR_BUILD_TIME);
    build.Set("distributed", Napi::String::New(env, !dist::available() ? "none" : dist::nccl_available() ? "gloo+nccl" : "gloo"));
    o.Set("build", build);

    ThreadSettings ts = thread_settings();
    Napi::Object threads = Napi::Object::New(env);
    threads.Set("cores", hardware_cores());
    threads.Set("intraOp", ts.intra_op);
    threads.Set("interOp", at::get_num_interop_threads());
    threads.Set("blas", ts.blas);
    threads.Set("blasLibrary", blas_library());
    // what dense layers' CPU float32 products run on (ops/linear): "oneDNN x.y.z" or "BLAS"
    threads.Set("cpuGemm", ops::cpu_gemm_name());
    threads.Set("parallelBackend",
#if AT_PARALLEL_OPENMP
                "openmp"
#elif AT_PARALLEL_NATIVE_TBB
                "tbb"
#else
                "native"
#endif
    );
    threads.Set("kernelThreads", kernel_threads());
    o.Set("threads", threads);

    Napi::Object cuda = Napi::Object::New(env);
    bool available = false;
    Napi::Array devices = Napi::Array::New(env);
#ifdef LEMUR_WITH_CUDA
    available = torch::cuda::is_available();
    if (available) {
      int64_t n = torch::cuda::device_count();
      for (int64_t i = 0; i < n; ++i) {
        const cudaDeviceProp* p = at::cuda::getDeviceProperties(static_cast<int>(i));
        Napi::Object d = Napi::Object::New(env);
        d.Set("index", static_cast<double>(i));
        d.Set("name", p->name);
        d.Set("memoryBytes", static_cast<double>(p->totalGlobalMem));
        d.Set("computeCapability", std::to_string(p->major) + "." + std::to_string(p->minor));
        devices.Set(static_cast<uint32_t>(i), d);
      }
    }
#endif
    cuda.Set("available", Napi::Boolean::New(env, available));
    cuda.Set("devices", devices);
    o.Set("cuda", cuda);
    return o;
  });
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    int intra = 0, blas = 0;
    if (info.Length() > 0 && info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      auto read = [&](const char* key, int& out) {
        Napi::Value v = o.Get(key);
        if (v.IsUndefined()) return;
        if (!v.IsNumber() || v.As<Napi::Number>().DoubleValue() < 1 ||
            v.As<Napi::Number>().DoubleValue() != v.As<Napi::Number>().Int32Value())
          throw UserError(std::string("setThreads: ") + key + " must be a positive integer");
        out = v.As<Napi::Number>().Int32Value();
      };
      read("intraOp", intra);
      read("blas", blas);
    }
    set_thread_settings(intra, blas);
    return env.Undefined();
  });
}

// memoryStats(): the native allocator's view (glibc malloc, under the CPU tensor cache): on
// CPU, LibTorch's tensors are malloc'd memory, so leaked tensors show in inUse (which counts
// the cache's free blocks too), fragmentation in free.
// releaseMemory(): hands free allocator memory back to the system now.
Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    const core::AllocatorStats m = core::allocator_stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("allocator", m.known ? "glibc" : "unknown");
    if (m.known) {
      o.Set("inUse", m.in_use);
      o.Set("arena", m.arena);
      o.Set("mmapped", m.mmapped);
      o.Set("free", m.free);
      o.Set("releasable", m.releasable);
    }
    const core::CpuCacheStats c = core::cpu_cache_stats();
    if (c.installed) {
      Napi::Object k = Napi::Object::New(env);
      k.Set("inUse", c.in_use);
      k.Set("peakInUse", c.peak_in_use);
      k.Set("cached", c.cached);
      k.Set("hits", c.hits);
      k.Set("misses", c.misses);
      o.Set("tensorCache", k);
    }
    return o;
  });
}

Napi::Value ReleaseMemory(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&]() -> Napi::Value {
    core::release_free_memory();
    return info.Env().Undefined();
  });
}

}  // namespace

void init_info_binding(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New<Info>(env, "info"));
  exports.Set("setThreads", Napi::Function::New<SetThreads>(env, "setThreads"));
  exports.Set("memoryStats", Napi::Function::New<MemoryStats>(env, "memoryStats"));
  exports.Set("releaseMemory", Napi::Function::New<ReleaseMemory>(env, "releaseMemory"));
}

}  // namespace lemur
