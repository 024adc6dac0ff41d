// CPU memory-bank gather and scatter. Gather: parallel over ids. Scatter: each thread owns a
// contiguous range of bank rows and scans all ids in order, writing those in its range, so the
// last occurrence of an id wins and no two threads ever write one row.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstring>

#include "ops/memory_bank/memory_bank_ops.h"

namespace lemur::ops::cpu {

std::tuple<at::Tensor, at::Tensor> bank_gather_kernel(const at::Tensor& bank, const at::Tensor& written,
                                                      const at::Tensor& ids) {
  const int64_t m = ids.numel(), width = bank.size(1);
  at::Tensor rows = at::empty({m, width}, bank.options());
  at::Tensor present = at::empty({m}, bank.options().dtype(at::kBool));
  const size_t row_bytes = static_cast<size_t>(width) * bank.element_size();
  const char* src = static_cast<const char*>(bank.data_ptr());
  char* dst = static_cast<char*>(rows.data_ptr());
  const uint8_t* w = static_cast<const uint8_t*>(written.data_ptr());
  const int64_t* id = ids.data_ptr<int64_t>();
  bool* pr = present.data_ptr<bool>();
  at::parallel_for(0, m, 1024, [&](int64_t m0, int64_t m1) {
    for (int64_t i = m0; i < m1; ++i) {
      const bool hit = w[id[i]] != 0;
      pr[i] = hit;
      if (hit) std::memcpy(dst + i * row_bytes, src + id[i] * row_bytes, row_bytes);
      else std::memset(dst + i * row_bytes, 0, row_bytes);
    }
  });
  return {rows, present};
}

void bank_scatter_kernel(const at::Tensor& bank, const at::Tensor& written,
                         const at::Tensor& last_step, const at::Tensor& ids, const at::Tensor& rows,
                         int64_t step) {
  const int64_t m = ids.numel(), n = bank.size(0);
  if (m == 0) return;
  const size_t row_bytes = static_cast<size_t>(bank.size(1)) * bank.element_size();
  char* dst = static_cast<char*>(bank.data_ptr());
  const char* src = static_cast<const char*>(rows.data_ptr());
  uint8_t* w = static_cast<uint8_t*>(written.data_ptr());
  int64_t* ls = last_step.data_ptr<int64_t>();
  const int64_t* id = ids.data_ptr<int64_t>();
  // Few ids: one pass. Many: split the bank's rows among the threads.
  const int64_t parts = m < 4096 ? 1 : std::max<int64_t>(1, at::get_num_threads());
  at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    const int64_t lo = n * p0 / parts, hi = n * p1 / parts;  // rows [lo, hi) are this thread's
    for (int64_t i = 0; i < m; ++i) {
      const int64_t r = id[i];
      if (r < lo || r >= hi) continue;
      std::memcpy(dst + r * row_bytes, src + i * row_bytes, row_bytes);
      w[r] = 1;
      ls[r] = step;
    }
  });
}

}  // namespace lemur::ops::cpu
