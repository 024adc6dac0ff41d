// The lemur native addon: registers each binding (see bindings/ and core/).
#include <napi.h>

#include "bindings/bindings.h"
#include "core/addon_env.h"
#include "core/cpu_caching_allocator.h"
#include "core/tensor_object.h"
#include "core/threads.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  lemur::init_addon_env(env);
  lemur::core::install_cpu_caching_allocator();  // before any tensor of ours exists
  lemur::thread_settings();  // applies the defaults: intra-op = cores, BLAS = intra-op
  lemur::TensorObject::Init(env, exports);
  lemur::init_info_binding(env, exports);
  lemur::init_ops_binding(env, exports);
  lemur::init_queue_binding(env, exports);
  lemur::init_data_binding(env, exports);
  lemur::init_model_binding(env, exports);
  lemur::init_nn_binding(env, exports);
  lemur::init_bench_binding(env, exports);
  lemur::init_distributed_binding(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(lemur, Init)
