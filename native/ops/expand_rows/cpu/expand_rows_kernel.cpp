// CPU dedup_ids, expand_rows and segment_sum_rows. The segment sum is a counting sort of the
// positions by row (stable: positions stay in increasing order) followed by one ordered fp32
// (fp64 for float64) sum per output row: the result does not depend on the thread count.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "ops/expand_rows/expand_rows.h"

namespace lemur::ops::cpu {

std::tuple<at::Tensor, at::Tensor> dedup_ids_kernel(const at::Tensor& ids) {
  const int64_t m = ids.numel();
  const int64_t* id = ids.data_ptr<int64_t>();
  std::vector<std::pair<int64_t, int64_t>> sorted(m);
  for (int64_t i = 0; i < m; ++i) sorted[i] = {id[i], i};
  std::sort(sorted.begin(), sorted.end());
  at::Tensor inverse = at::empty({m}, ids.options());
  int64_t* inv = inverse.data_ptr<int64_t>();
  std::vector<int64_t> uniq;
  for (int64_t i = 0; i < m; ++i) {
    if (i == 0 || sorted[i].first != sorted[i - 1].first) uniq.push_back(sorted[i].first);
    inv[sorted[i].second] = static_cast<int64_t>(uniq.size()) - 1;
  }
  at::Tensor unique = at::empty({static_cast<int64_t>(uniq.size())}, ids.options());
  std::copy(uniq.begin(), uniq.end(), unique.data_ptr<int64_t>());
  return {unique, inverse};
}

at::Tensor expand_rows_kernel(const at::Tensor& src, const at::Tensor& inverse) {
  const int64_t m = inverse.numel();
  at::Tensor out = at::empty({m, src.size(1)}, src.options());
  const size_t row_bytes = static_cast<size_t>(src.size(1)) * src.element_size();
  const char* s = static_cast<const char*>(src.data_ptr());
  char* o = static_cast<char*>(out.data_ptr());
  const int64_t* inv = inverse.data_ptr<int64_t>();
  at::parallel_for(0, m, 1024, [&](int64_t m0, int64_t m1) {
    for (int64_t i = m0; i < m1; ++i) std::memcpy(o + i * row_bytes, s + inv[i] * row_bytes, row_bytes);
  });
  return out;
}

at::Tensor segment_sum_rows_kernel(const at::Tensor& grad, const at::Tensor& inverse, int64_t num_rows) {
  const int64_t m = inverse.numel(), dim = grad.size(1);
  const int64_t* inv = inverse.data_ptr<int64_t>();
  // Counting sort: start[u] .. start[u+1]-1 index `order`, the positions of row u, ascending.
  std::vector<int64_t> start(num_rows + 1, 0), order(m);
  for (int64_t i = 0; i < m; ++i) ++start[inv[i] + 1];
  for (int64_t u = 0; u < num_rows; ++u) start[u + 1] += start[u];
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t i = 0; i < m; ++i) order[fill[inv[i]]++] = i;
  }
  at::Tensor out = at::empty({num_rows, dim}, grad.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "segment_sum_rows_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* g = grad.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, num_rows, 256, [&](int64_t u0, int64_t u1) {
      std::vector<acc_t> acc(dim);
      for (int64_t u = u0; u < u1; ++u) {
        std::fill(acc.begin(), acc.end(), acc_t(0));
        for (int64_t k = start[u]; k < start[u + 1]; ++k) {
          const scalar_t* row = g + order[k] * dim;
          for (int64_t x = 0; x < dim; ++x) acc[x] += static_cast<acc_t>(row[x]);
        }
        for (int64_t x = 0; x < dim; ++x) o[u * dim + x] = static_cast<scalar_t>(acc[x]);
      }
    });
  });
  return out;
}

}  // namespace lemur::ops::cpu
