// Per-Node-environment state of the addon (the main thread and each worker_thread that
// loads it get their own): constructors of wrapped classes, and the JS-thread release
// channel of the tensor bridge.
#pragma once
#include <napi.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace lemur {

struct Borrow;

struct AddonEnv {
  std::thread::id js_thread;
  std::atomic<bool> alive{true};
  Napi::FunctionReference tensor_ctor, samples_ctor, documents_ctor, loader_ctor;

  // JS references dropped by tensors that died off the JS thread, released there.
  std::mutex pending_mu;
  std::vector<Borrow*> pending_release;
  Napi::ThreadSafeFunction release_tsfn;

  static AddonEnv& of(Napi::Env env) { return *env.GetInstanceData<AddonEnv>(); }
};

// Creates the environment state; registers its clean-up for environment teardown.
AddonEnv& init_addon_env(Napi::Env env);

}  // namespace lemur
