#include "core/threads.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>

#include "ops/linear/linear.h"

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
  // The cores this process may run on (taskset, a container's cpuset, Slurm's binding), not
  // the machine's: hardware_concurrency() counts those.
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

namespace {
int positive_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);  // OMP_NUM_THREADS may be a list ("4,2"): its first
  return end != v && n > 0 && n < 1 << 16 ? static_cast<int>(n) : 0;
}
}  // namespace

int default_intra_op_threads() {
  // As PyTorch does: OMP_NUM_THREADS when set (torchrun sets 1 for several workers a node);
  // else Slurm's --cpus-per-task; else the cores shared among the job's workers on this
  // machine (LOCAL_WORLD_SIZE, set by torchrun and lemur's launcher): N workers with every
  // core each oversubscribe N times.
  if (const int n = positive_env("OMP_NUM_THREADS")) return n;
  // a task of an srun step: the CPUs Slurm gave it (--cpus-per-task)
  if (std::getenv("SLURM_STEP_ID"))
    if (const int n = positive_env("SLURM_CPUS_PER_TASK")) return n;
  const int cores = hardware_cores();
  if (const int local = positive_env("LOCAL_WORLD_SIZE")) return std::max(1, cores / local);
  return cores;
}

int default_blas_threads(int intra_op) {
  // With oneDNN's GEMM taking the CPU float32 products (ops/linear, the SQDC logits included),
  // a step makes no BLAS call of size: the BLAS's own pool (OpenBLAS starts pthreads beside
  // OpenMP's) would only compete with the intra-op pool for the same cores.
  return ops::onednn_gemm_enabled() ? 1 : intra_op;
}

ThreadSettings thread_settings() {
  if (g_intra.load() == 0) set_thread_settings(default_intra_op_threads(), 0);
  return {g_intra.load(), g_blas.load()};
}

void set_thread_settings(int intra_op, int blas_threads) {
  if (intra_op > 0) g_intra.store(intra_op);
  if (g_intra.load() == 0) g_intra.store(default_intra_op_threads());
  // BLAS follows intra-op unless given: setThreads({ intraOp: 1 }) must not leave the BLAS
  // pool at the cores' count it got at start-up (the two pools would oversubscribe).
  if (blas_threads > 0) g_blas.store(blas_threads);
  else if (intra_op > 0 || g_blas.load() == 0) g_blas.store(default_blas_threads(g_intra.load()));
  g_generation++;
  uint64_t dummy = 0;
  apply_thread_settings(dummy);
}

void apply_thread_settings(uint64_t& applied) {
  uint64_t gen = g_generation.load();
  if (applied == gen) return;
  if (g_intra.load() == 0) set_thread_settings(default_intra_op_threads(), 0);
  at::set_num_threads(g_intra.load());
  if (blas().set) blas().set(g_blas.load());
  applied = gen;
}

const char* blas_library() { return blas().name; }

}  // namespace lemur
