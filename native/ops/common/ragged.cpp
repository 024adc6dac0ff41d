#include "ops/common/ragged.h"

#include <ATen/ATen.h>

#include "core/js_error.h"

namespace lemur::ops {

at::Tensor checked_offsets(const at::Tensor& offsets, int64_t total, const at::Device& device,
                           const std::string& what) {
  if (offsets.dim() != 1 || offsets.numel() < 1)
    throw UserError(what + ": offsets must be 1-D with B+1 entries, got shape " +
                    c10::str(offsets.sizes()));
  if (offsets.scalar_type() != at::kLong && offsets.scalar_type() != at::kInt)
    throw UserError(what + ": offsets must be int32 or int64, got " +
                    std::string(c10::toString(offsets.scalar_type())));
  at::Tensor host = offsets.to(at::kCPU, at::kLong).contiguous();
  const int64_t* o = host.data_ptr<int64_t>();
  const int64_t n = host.numel();
  if (o[0] != 0) throw UserError(what + ": offsets[0] must be 0, got " + std::to_string(o[0]));
  for (int64_t i = 1; i < n; ++i) {
    if (o[i] < o[i - 1])
      throw UserError(what + ": offsets must be non-decreasing, but offsets[" + std::to_string(i) +
                      "] = " + std::to_string(o[i]) + " < offsets[" + std::to_string(i - 1) +
                      "] = " + std::to_string(o[i - 1]));
  }
  if (o[n - 1] != total)
    throw UserError(what + ": offsets end at " + std::to_string(o[n - 1]) + " but values has " +
                    std::to_string(total) + " rows");
  return host.device() == device ? host : host.to(device);
}

}  // namespace lemur::ops
