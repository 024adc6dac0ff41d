#include "core/allocator.h"

#include "core/cpu_caching_allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace lemur::core {

AllocatorStats allocator_stats() {
  AllocatorStats s;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 m = mallinfo2();
  s.known = true;
  s.in_use = static_cast<double>(m.uordblks + m.hblkhd);
  s.arena = static_cast<double>(m.arena);
  s.mmapped = static_cast<double>(m.hblkhd);
  s.free = static_cast<double>(m.fordblks);
  s.releasable = static_cast<double>(m.keepcost);
#endif
  return s;
}

void release_free_memory() {
  empty_cpu_cache();  // cached tensor blocks first, so malloc can hand their pages back too
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace lemur::core
