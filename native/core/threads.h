// Thread counts for torch's intra-op pool and the BLAS library underneath it. Settings are
// process-wide; each executor thread applies them before its next task (OpenMP keeps the
// count per thread, so setting it on the JS thread alone would not reach the workers).
#pragma once
#include <cstdint>

namespace lemur {

struct ThreadSettings {
  int intra_op;  // torch intra-op threads
  int blas;      // OpenBLAS / MKL threads
};

int hardware_cores();
// OMP_NUM_THREADS when set, else SLURM_CPUS_PER_TASK in an srun step, else the cores /
// LOCAL_WORLD_SIZE (the job's workers on this machine), else the cores.
int default_intra_op_threads();
ThreadSettings thread_settings();
// BLAS threads when not given: 1 where oneDNN's GEMM takes the products (no step product goes
// to the BLAS, whose own pool would only compete with the intra-op pool), else intra_op, so
// torch and BLAS never stack their pools on top of each other.
int default_blas_threads(int intra_op);
// 0 for either keeps its current value. Defaults at load: intra_op = default_intra_op_threads(),
// BLAS threads default_blas_threads(intra_op); a new intra_op resets BLAS to its default.
void set_thread_settings(int intra_op, int blas);
// Applies the current settings to the calling thread if they changed since it last did.
void apply_thread_settings(uint64_t& applied_generation);
// Name of the BLAS threading control found at run time ("openblas", "none"...).
const char* blas_library();

}  // namespace lemur
