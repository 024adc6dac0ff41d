#include "ops/common/ids.h"

#include <ATen/ATen.h>

#include "core/js_error.h"

namespace lemur::ops {

namespace {
void throw_first_bad(const at::Tensor& ids_cpu, int64_t n, const std::string& what,
                     const std::string& name) {
  const int64_t* p = ids_cpu.data_ptr<int64_t>();
  for (int64_t i = 0; i < ids_cpu.numel(); ++i)
    if (p[i] < 0 || p[i] >= n)
      throw UserError(what + ": " + name + "[" + std::to_string(i) + "] = " + std::to_string(p[i]) +
                      " is out of range [0, " + std::to_string(n) + ")");
}
}  // namespace

at::Tensor checked_ids(const at::Tensor& ids_in, int64_t n, const std::string& what,
                       const std::string& name) {
  if (ids_in.dim() != 1)
    throw UserError(what + ": " + name + " must be 1-D, got shape " + c10::str(ids_in.sizes()));
  if (ids_in.scalar_type() != at::kLong && ids_in.scalar_type() != at::kInt)
    throw UserError(what + ": " + name + " must be int64 (or int32), got " +
                    std::string(c10::toString(ids_in.scalar_type())));
  at::Tensor ids = ids_in.to(at::kLong).contiguous();
  if (ids.numel() == 0) return ids;
  if (ids.is_cpu()) {
    const int64_t* p = ids.data_ptr<int64_t>();
    bool ok = true;
    for (int64_t i = 0; i < ids.numel(); ++i) ok &= (p[i] >= 0) & (p[i] < n);
    if (!ok) throw_first_bad(ids, n, what, name);
    return ids;
  }
  at::Tensor range = at::stack({ids.min(), ids.max()}).cpu();
  const int64_t* r = range.data_ptr<int64_t>();
  if (r[0] < 0 || r[1] >= n) throw_first_bad(ids.cpu(), n, what, name);
  return ids;
}

int bits_for(int64_t n) {
  int bits = 1;
  while (bits < 63 && (int64_t{1} << bits) < n) ++bits;
  return bits;
}

void check_written(const at::Tensor& written, const at::Tensor& bank, const std::string& what) {
  if (written.dim() != 1 || written.size(0) != bank.size(0))
    throw UserError(what + ": written must be [N] = [" + std::to_string(bank.size(0)) + "], got shape " +
                    c10::str(written.sizes()));
  if (written.scalar_type() != at::kByte && written.scalar_type() != at::kBool)
    throw UserError(what + ": written must be uint8 (or bool), got " +
                    std::string(c10::toString(written.scalar_type())));
  if (written.device() != bank.device())
    throw UserError(what + ": bank and written must be on one device, got " + bank.device().str() + " and " +
                    written.device().str());
}

}  // namespace lemur::ops
