// A caching allocator under LibTorch's CPU tensors, as PyTorch's CUDA caching allocator is
// under its GPU tensors. A training step frees and reallocates the same few hundred MB of
// activations every step; through plain malloc, on lemur's model thread (a glibc thread
// arena, whose heaps are handed back with MADV_DONTNEED as soon as their top is free),
// most of those blocks come back as fresh pages: a page fault and a kernel zeroing per
// 4 KB, about a third of a CPU step on the lemur preset. Freed blocks of 16 KB and more
// are kept here, by size class, and reused; small ones stay with malloc.
//
// The cache is bounded by the peak bytes the allocator ever had in use (at least 256 MB):
// it never holds more than the largest working set seen. It is emptied by
// release_free_memory() (training does that every 100 steps and after every evaluation
// pass, releaseMemory() at once), so blocks of sizes a phase no longer uses do not linger.
// LEMUR_CPU_ALLOCATOR=system at start-up keeps LibTorch's own allocator.
#pragma once
#include <cstdint>

namespace lemur::core {

struct CpuCacheStats {
  bool installed = false;
  double in_use = 0;       // bytes of live blocks handed out through the cache (rounded sizes)
  double peak_in_use = 0;
  double cached = 0;       // bytes of free blocks held for reuse
  double hits = 0;         // allocations served from the cache
  double misses = 0;       // allocations that went to the system
};

// Makes the caching allocator LibTorch's CPU allocator, unless LEMUR_CPU_ALLOCATOR=system.
// Once, at load, before any model exists; later calls do nothing.
void install_cpu_caching_allocator();
CpuCacheStats cpu_cache_stats();
// Frees every cached block to the system. Live blocks are untouched.
void empty_cpu_cache();

}  // namespace lemur::core
