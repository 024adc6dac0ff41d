#include "core/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <atomic>
#include <thread>

namespace lemur {
namespace {

using SetThreadsFn = void (*)(int);
using GetThreadsFn = int (*)();

struct Blas {
  const char* name = "none";
  SetThreadsFn set = nullptr;
  GetThreadsFn get = nullptr;
  Blas() {
    // Looked up at run time: which BLAS libtorch was linked with differs between builds.
    if ((set = reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))) {
      name = "openblas";
      get = reinterpret_cast<GetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    } else if ((set = reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "MKL_Set_Num_Threads")))) {
      name = "mkl";
      get = reinterpret_cast<GetThreadsFn>(dlsym(RTLD_DEFAULT, "MKL_Get_Max_Threads"));
    }
  }
};

Blas& blas() {
  static Blas b;
  return b;
}

std::atomic<int> g_intra{0}, g_blas{0};
std::atomic<uint64_t> g_generation{1};

}  // namespace

int hardware_cores() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadSettings thread_settings() {
  if (g_intra.load() == 0) set_thread_settings(hardware_cores(), 0);
  return {g_intra.load(), g_blas.load()};
}

void set_thread_settings(int intra_op, int blas_threads) {
  if (intra_op > 0) g_intra.store(intra_op);
  if (g_intra.load() == 0) g_intra.store(hardware_cores());
  // BLAS follows intra-op unless given: setThreads({ intraOp: 1 }) must not leave the BLAS
  // pool at the cores' count it got at start-up (the two pools would oversubscribe).
  if (blas_threads > 0) g_blas.store(blas_threads);
  else if (intra_op > 0 || g_blas.load() == 0) g_blas.store(g_intra.load());
  g_generation++;
  uint64_t dummy = 0;
  apply_thread_settings(dummy);
}

void apply_thread_settings(uint64_t& applied) {
  uint64_t gen = g_generation.load();
  if (applied == gen) return;
  if (g_intra.load() == 0) set_thread_settings(hardware_cores(), 0);
  at::set_num_threads(g_intra.load());
  if (blas().set) blas().set(g_blas.load());
  applied = gen;
}

const char* blas_library() { return blas().name; }

}  // namespace lemur
