#include "core/addon_env.h"

#include "core/tensor_bridge.h"

namespace lemur {

namespace {
void on_env_teardown(Napi::Env, AddonEnv* data, void*) {
  data->alive.store(false);
  for (auto* r : {&data->tensor_ctor, &data->samples_ctor, &data->documents_ctor, &data->loader_ctor}) r->SuppressDestruct();
}
}  // namespace

AddonEnv& init_addon_env(Napi::Env env) {
  auto* e = new AddonEnv();
  e->js_thread = std::this_thread::get_id();
  // Drains buffers released off the JS thread; unref'd so it never keeps Node alive.
  e->release_tsfn = Napi::ThreadSafeFunction::New(
      env, Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
        drain_released_borrows(info.Env());
      }),
      "lemur:release", 0, 1);
  e->release_tsfn.Unref(env);
  // Teardown: mark dead first so late tensor deaths do not touch a gone environment. The
  // struct itself is kept (tensors held by static objects may still point at it).
  env.SetInstanceData<AddonEnv, void, &on_env_teardown>(e, nullptr);
  return *e;
}

}  // namespace lemur
