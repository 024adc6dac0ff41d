// Registration functions of the JS-facing parts of the addon, one per binding file.
#pragma once
#include <napi.h>

namespace lemur {

void init_info_binding(Napi::Env env, Napi::Object exports);   // info(), setThreads()
void init_ops_binding(Napi::Env env, Napi::Object exports);    // ops.* (synchronous, low level)
void init_queue_binding(Napi::Env env, Napi::Object exports);  // Queue: async, serialized ops
void init_data_binding(Napi::Env env, Napi::Object exports);   // Samples, Documents, Loader
void init_model_binding(Napi::Env env, Napi::Object exports);  // Model (a Trainer on its executor)
void init_nn_binding(Napi::Env env, Napi::Object exports);     // nn.*: building blocks, for tests
void init_bench_binding(Napi::Env env, Napi::Object exports);  // bench.*: timed kernels and baselines
void init_distributed_binding(Napi::Env env, Napi::Object exports);  // checkCollectives(): the process group's self-test

}  // namespace lemur
