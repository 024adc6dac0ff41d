// The host allocator under LibTorch's CPU tensors (glibc malloc on Linux): statistics, and
// handing free memory back to the system. A training step frees and reallocates hundreds
// of MB of activations from several threads (worker, loader, OpenMP), which fragments
// malloc's arenas: the process's resident size keeps growing while bytes in use stay flat.
// Trimming now and then keeps it flat without the per-step cost of a low mmap threshold.
#pragma once

namespace lemur::core {

struct AllocatorStats {
  bool known = false;       // false where the allocator is not glibc malloc
  double in_use = 0;        // bytes handed out (small blocks + mmapped chunks)
  double arena = 0;         // heap bytes obtained with brk/sbrk
  double mmapped = 0;       // bytes in mmapped chunks
  double free = 0;          // bytes held by malloc but free (fragmentation)
  double releasable = 0;    // free bytes at the top of the main heap
};

AllocatorStats allocator_stats();

// Empties the CPU tensor cache (cpu_caching_allocator.h) and returns free memory of every
// arena to the system (malloc_trim; a no-op elsewhere).
void release_free_memory();

}  // namespace lemur::core
