#include "ops/memory_bank/memory_bank_ops.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/variable.h>

#include "core/js_error.h"
#include "ops/common/cuda_launch.h"
#include "ops/common/ids.h"
#include "ops/memory_bank/cuda/memory_bank_kernel.h"

namespace lemur::ops {

namespace {

void check_bank(const at::Tensor& bank, const at::Tensor& written, const std::string& op) {
  if (bank.dim() != 2)
    throw UserError(op + ": bank must be [N, E], got shape " + c10::str(bank.sizes()));
  if (!at::isFloatingType(bank.scalar_type()))
    throw UserError(op + ": bank must be floating point, got " +
                    std::string(c10::toString(bank.scalar_type())));
  check_written(written, bank, op);
  if (bank.is_cuda() && bank.scalar_type() != at::kFloat && bank.scalar_type() != at::kHalf &&
      bank.scalar_type() != at::kBFloat16)
    throw UserError(op + ": on CUDA, bank must be float32, float16 or bfloat16, got " +
                    std::string(c10::toString(bank.scalar_type())));
}

void check_device(const at::Tensor& t, const at::Tensor& bank, const std::string& op, const char* name) {
  if (t.device() != bank.device())
    throw UserError(op + ": " + name + " must be on the bank's device (" + bank.device().str() +
                    "), got " + t.device().str());
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> bank_gather(const at::Tensor& bank_in, const at::Tensor& written_in,
                                               const at::Tensor& ids_in) {
  const std::string op = "bank_gather";
  check_bank(bank_in, written_in, op);
  check_device(ids_in, bank_in, op, "ids");
  at::Tensor ids = checked_ids(ids_in, bank_in.size(0), op, "ids");
  return bank_gather_unchecked(bank_in, written_in, ids);
}

std::tuple<at::Tensor, at::Tensor> bank_gather_unchecked(const at::Tensor& bank_in, const at::Tensor& written_in,
                                                         const at::Tensor& ids) {
  const std::string op = "bank_gather";
  at::Tensor bank = bank_in.contiguous(), written = written_in.contiguous();
  if (bank.is_cuda()) {
#ifdef LEMUR_WITH_CUDA
    const int64_t m = ids.numel(), e = bank.size(1);
    at::Tensor rows = at::empty({m, e}, bank.options());
    at::Tensor present = at::empty({m}, bank.options().dtype(at::kBool));
    cuda::bank_gather(cuda::dtype_of(bank), bank.data_ptr(), static_cast<const uint8_t*>(written.data_ptr()),
                      ids.data_ptr<int64_t>(), rows.data_ptr(), static_cast<uint8_t*>(present.data_ptr()),
                      m, e, cuda::current_stream(bank));
    return {rows, present};
#else
    throw UserError(op + ": this build of lemur has no CUDA support");
#endif
  }
  return cpu::bank_gather_kernel(bank, written, ids);
}

void bank_scatter(const at::Tensor& bank, const at::Tensor& written, const at::Tensor& last_step,
                  const at::Tensor& ids_in, const at::Tensor& rows_in, int64_t step) {
  const std::string op = "bank_scatter";
  check_bank(bank, written, op);
  if (!bank.is_contiguous() || !written.is_contiguous() || !last_step.is_contiguous())
    throw UserError(op + ": bank, written and last_step must be contiguous (they are written in place)");
  if (last_step.dim() != 1 || last_step.size(0) != bank.size(0) || last_step.scalar_type() != at::kLong)
    throw UserError(op + ": last_step must be int64 [N] = [" + std::to_string(bank.size(0)) + "], got " +
                    std::string(c10::toString(last_step.scalar_type())) + " " + c10::str(last_step.sizes()));
  check_device(last_step, bank, op, "last_step");
  check_device(ids_in, bank, op, "ids");
  check_device(rows_in, bank, op, "rows");
  if (rows_in.dim() != 2 || rows_in.size(1) != bank.size(1) || rows_in.size(0) != ids_in.numel())
    throw UserError(op + ": rows must be [M, E] = [" + std::to_string(ids_in.numel()) + ", " +
                    std::to_string(bank.size(1)) + "] (one row per id), got shape " + c10::str(rows_in.sizes()));
  if (!at::isFloatingType(rows_in.scalar_type()))
    throw UserError(op + ": rows must be floating point, got " +
                    std::string(c10::toString(rows_in.scalar_type())));
  at::Tensor ids = checked_ids(ids_in, bank.size(0), op, "ids");
  at::Tensor rows = rows_in.detach().to(bank.scalar_type()).contiguous();
  // Autograd must see the write: a saved bank (e.g. by bank_attention for its backward) then
  // fails its version check instead of being silently re-read with new rows.
  torch::autograd::impl::bump_version(bank);
  torch::autograd::impl::bump_version(written);
  torch::autograd::impl::bump_version(last_step);
  if (ids.numel() == 0) return;
  if (bank.is_cuda()) {
#ifdef LEMUR_WITH_CUDA
    const int bits = bits_for(bank.size(0));
    const size_t bytes = cuda::bank_scatter_workspace_bytes(ids.numel(), bits);
    at::Tensor ws = at::empty({static_cast<int64_t>(bytes)}, bank.options().dtype(at::kByte));
    cuda::bank_scatter(cuda::dtype_of(bank), bank.data_ptr(), static_cast<uint8_t*>(written.data_ptr()),
                       last_step.data_ptr<int64_t>(), ids.data_ptr<int64_t>(), rows.data_ptr(),
                       ids.numel(), bank.size(1), step, bits, ws.data_ptr(), bytes,
                       cuda::current_stream(bank));
    return;
#else
    throw UserError(op + ": this build of lemur has no CUDA support");
#endif
  }
  cpu::bank_scatter_kernel(bank, written, last_step, ids, rows, step);
}

}  // namespace lemur::ops
