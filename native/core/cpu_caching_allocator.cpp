#include "core/cpu_caching_allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

namespace lemur::core {
namespace {

constexpr size_t kMinCached = size_t{16} << 10;         // smaller blocks: malloc's bins serve them well
constexpr size_t kMinLimit = size_t{256} << 20;          // the cache may always hold this much
constexpr size_t kFinestGranule = size_t{4} << 10;

// 4 KB granules up to 32 KB, then 8 classes per power of two (at most 12.5% rounding), so
// that ragged batches, whose sizes move a little every step, meet blocks of the same class.
size_t size_class(size_t n) {
  const int top = 63 - __builtin_clzll(static_cast<unsigned long long>(n));
  const size_t granule = std::max(kFinestGranule, (size_t{1} << top) / 8);
  return (n + granule - 1) / granule * granule;
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  // LibTorch 1.13 declares allocate() const, 2.3 and later non-const: one of the two
  // overrides, the other is a plain overload.
  c10::DataPtr allocate(size_t n) const { return const_cast<CachingCpuAllocator*>(this)->take(n); }
  c10::DataPtr allocate(size_t n) { return take(n); }
  c10::DeleterFnPtr raw_deleter() const override { return &Delete; }
  // Pure virtual from LibTorch 2.3 on, a plain member before.
  void copy_data(void* dest, const void* src, std::size_t count) const {
    if (count > 0) std::memcpy(dest, src, count);
  }

  CpuCacheStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    CpuCacheStats s;
    s.installed = true;
    s.in_use = static_cast<double>(in_use_);
    s.peak_in_use = static_cast<double>(peak_in_use_);
    s.cached = static_cast<double>(cached_);
    s.hits = static_cast<double>(hits_);
    s.misses = static_cast<double>(misses_);
    return s;
  }

  void empty() {
    std::map<size_t, std::vector<void*>> blocks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks.swap(free_);
      cached_ = 0;
    }
    for (auto& [size, ptrs] : blocks)
      for (void* p : ptrs) c10::free_cpu(p);
  }

  static CachingCpuAllocator* instance;

 private:
  // Every block starts with this header, so that one deleter frees every pointer handed out
  // (LibTorch's raw_allocate / raw_deallocate need that) without a lookup table. 64 bytes
  // keep the data at LibTorch's 64-byte alignment.
  struct alignas(64) Header {
    size_t size;   // bytes after the header: a size class, or 0 for a small block
    uint64_t magic;
  };
  static constexpr uint64_t kMagic = 0x6c656d7572626c6bULL;  // "lemurblk"

  static void Delete(void* data) {
    if (!data) return;
    Header* h = static_cast<Header*>(data) - 1;
    if (h->magic != kMagic) std::abort();  // not a block of ours: memory is corrupt, stop here
    if (h->size == 0) return c10::free_cpu(h);
    instance->give_back(h);
  }

  static c10::DataPtr handed_out(Header* h) {
    void* data = h + 1;
    return {data, data, &Delete, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DataPtr take(size_t n) {
    if (n == 0) return {nullptr, nullptr, &Delete, c10::Device(c10::DeviceType::CPU)};
    if (n < kMinCached) {
      auto* h = static_cast<Header*>(c10::alloc_cpu(sizeof(Header) + n));
      h->size = 0;
      h->magic = kMagic;
      return handed_out(h);
    }
    const size_t want = size_class(n);
    Header* h = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // The smallest cached block of this class or up to a quarter larger.
      auto it = free_.lower_bound(want);
      if (it != free_.end() && it->first <= want + want / 4) {
        h = static_cast<Header*>(it->second.back());
        it->second.pop_back();
        if (it->second.empty()) free_.erase(it);
        cached_ -= h->size;
        ++hits_;
        note_live(h->size);
      }
    }
    if (!h) {
      try {
        h = static_cast<Header*>(c10::alloc_cpu(sizeof(Header) + want));
      } catch (const c10::Error&) {
        empty();  // out of memory: what the cache holds may be what is missing
        h = static_cast<Header*>(c10::alloc_cpu(sizeof(Header) + want));
      }
      h->size = want;
      h->magic = kMagic;
      std::lock_guard<std::mutex> lock(mu_);
      ++misses_;
      note_live(want);
    }
    return handed_out(h);
  }

  void note_live(size_t size) {  // mu_ held
    in_use_ += size;
    peak_in_use_ = std::max(peak_in_use_, in_use_);
  }

  void give_back(Header* h) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_use_ -= h->size;
      if (cached_ + h->size <= std::max(kMinLimit, peak_in_use_)) {
        free_[h->size].push_back(h);
        cached_ += h->size;
        return;
      }
    }
    c10::free_cpu(h);
  }

  std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;  // headers of free blocks by size, no empty vectors
  size_t in_use_ = 0, peak_in_use_ = 0, cached_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
};

// Never destroyed: tensors may outlive every static (the allocator must outlast them all).
CachingCpuAllocator* CachingCpuAllocator::instance = nullptr;

}  // namespace

void install_cpu_caching_allocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("LEMUR_CPU_ALLOCATOR");
    if (env && std::strcmp(env, "system") == 0) return;
    CachingCpuAllocator::instance = new CachingCpuAllocator();
    // Priority 1 beats LibTorch's default CPU allocator (registered at 0).
    c10::SetCPUAllocator(CachingCpuAllocator::instance, 1);
  });
}

CpuCacheStats cpu_cache_stats() {
  return CachingCpuAllocator::instance ? CachingCpuAllocator::instance->stats() : CpuCacheStats{};
}

void empty_cpu_cache() {
  if (CachingCpuAllocator::instance) CachingCpuAllocator::instance->empty();
}

}  // namespace lemur::core
