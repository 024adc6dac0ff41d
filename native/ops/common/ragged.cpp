#include "ops/common/ragged.h"

#include <ATen/ATen.h>

#include "core/js_error.h"

namespace lemur::ops {

at::Tensor checked_offsets(const at::Tensor& offsets, int64_t total, const at::Device& device,
                           const std::string& what, const std::string& name,
                           const std::string& rows_of) {
  const std::string pre = what + ": " + name;
  if (offsets.dim() != 1 || offsets.numel() < 1)
    throw UserError(pre + " must be 1-D with B+1 entries, got shape " + c10::str(offsets.sizes()));
  if (offsets.scalar_type() != at::kLong && offsets.scalar_type() != at::kInt)
    throw UserError(pre + " must be int32 or int64, got " +
                    std::string(c10::toString(offsets.scalar_type())));
  at::Tensor host = offsets.to(at::kCPU, at::kLong).contiguous();
  const int64_t* o = host.data_ptr<int64_t>();
  const int64_t n = host.numel();
  if (o[0] != 0) throw UserError(pre + "[0] must be 0, got " + std::to_string(o[0]));
  for (int64_t i = 1; i < n; ++i) {
    if (o[i] < o[i - 1])
      throw UserError(pre + " must be non-decreasing, but " + name + "[" + std::to_string(i) +
                      "] = " + std::to_string(o[i]) + " < " + name + "[" + std::to_string(i - 1) +
                      "] = " + std::to_string(o[i - 1]));
  }
  if (o[n - 1] != total)
    throw UserError(pre + " end at " + std::to_string(o[n - 1]) + " but " + rows_of + " has " +
                    std::to_string(total) + " rows");
  return host.device() == device ? host : host.to(device);
}

TileTable tile_table(const at::Tensor& offsets_cpu, int64_t tile, const at::Device& device) {
  const int64_t n = offsets_cpu.numel();
  const int64_t* o = offsets_cpu.data_ptr<int64_t>();
  at::Tensor tiles = at::empty({n}, offsets_cpu.options().dtype(at::kLong));
  int64_t* t = tiles.data_ptr<int64_t>();
  t[0] = 0;
  for (int64_t i = 1; i < n; ++i) t[i] = t[i - 1] + (o[i] - o[i - 1] + tile - 1) / tile;
  return {tiles.to(device), t[n - 1]};
}

int64_t max_length(const at::Tensor& offsets_cpu) {
  const int64_t* o = offsets_cpu.data_ptr<int64_t>();
  int64_t m = 0;
  for (int64_t i = 1; i < offsets_cpu.numel(); ++i) m = std::max(m, o[i] - o[i - 1]);
  return m;
}

}  // namespace lemur::ops
