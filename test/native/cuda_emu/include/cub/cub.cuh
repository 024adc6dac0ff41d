// Emulated CUB: the stable radix sort of (key, value) pairs on bits [begin, end) and the
// exclusive scan the lemur kernels use.
#pragma once
#include <algorithm>
#include <numeric>
#include <vector>
#include "../cuda_runtime.h"
namespace cub {
struct DeviceRadixSort {
  template <typename K, typename V>
  static cudaError_t SortPairs(void* temp, size_t& bytes, const K* kin, K* kout, const V* vin, V* vout, int n,
                               int begin_bit, int end_bit, cudaStream_t = nullptr) {
    if (!temp) { bytes = 16; return cudaSuccess; }
    const K mask = end_bit >= 63 ? ~K(0) : ((K(1) << end_bit) - 1) & ~((K(1) << begin_bit) - 1);
    std::vector<int> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return (kin[a] & mask) < (kin[b] & mask); });
    std::vector<K> k(n);
    std::vector<V> v(n);
    for (int i = 0; i < n; ++i) { k[i] = kin[order[i]]; v[i] = vin[order[i]]; }
    std::copy(k.begin(), k.end(), kout);
    std::copy(v.begin(), v.end(), vout);
    return cudaSuccess;
  }
};
struct DeviceScan {
  template <typename I, typename O>
  static cudaError_t ExclusiveSum(void* temp, size_t& bytes, I in, O out, int n, cudaStream_t = nullptr) {
    if (!temp) { bytes = 16; return cudaSuccess; }
    std::remove_reference_t<decltype(*out)> acc = 0;
    for (int i = 0; i < n; ++i) { auto x = in[i]; out[i] = acc; acc += x; }
    return cudaSuccess;
  }
};
}  // namespace cub
