// Memory-bank gather and scatter: the bank is a table of rows [N, E] (float32 or bfloat16)
// with a written flag [N] uint8 and the step of the last write [N] int64.
#pragma once
#include <ATen/core/Tensor.h>

#include <tuple>

namespace lemur::ops {

// rows [M, E] = bank[ids] (zeros where the row was never written), present [M] bool.
// ids [M] int64 with any duplicates; ids outside [0, N) raise an error naming the first.
// No gradient flows into the bank.
std::tuple<at::Tensor, at::Tensor> bank_gather(const at::Tensor& bank, const at::Tensor& written,
                                               const at::Tensor& ids);

// bank[ids] = rows (cast to the bank's dtype); written[ids] = 1; last_step[ids] = step. For
// an id repeated in `ids`, the last occurrence wins (deterministically, also on CUDA).
void bank_scatter(const at::Tensor& bank, const at::Tensor& written, const at::Tensor& last_step,
                  const at::Tensor& ids, const at::Tensor& rows, int64_t step);

}  // namespace lemur::ops

// ---- Below: the ops' kernels behind the dispatch (arguments already checked: ids int64 in
// [0, N), tensors contiguous, rows cast to the bank's dtype).
namespace lemur::ops::cpu {
std::tuple<at::Tensor, at::Tensor> bank_gather_kernel(const at::Tensor& bank, const at::Tensor& written,
                                                      const at::Tensor& ids);
void bank_scatter_kernel(const at::Tensor& bank, const at::Tensor& written,
                         const at::Tensor& last_step, const at::Tensor& ids, const at::Tensor& rows,
                         int64_t step);
}  // namespace lemur::ops::cpu

namespace lemur::ops {
// bank_gather without its argument checks (ids int64, contiguous, known to be in range): the
// kernel alone, for benchmarks that separate validation from the gather.
std::tuple<at::Tensor, at::Tensor> bank_gather_unchecked(const at::Tensor& bank, const at::Tensor& written,
                                                         const at::Tensor& ids);
}  // namespace lemur::ops
