#include "ops/bank_attention/bank_attention.h"

#include <ATen/ATen.h>

#include "core/js_error.h"
#include "ops/bank_attention/cuda/bank_attention_kernel.h"
#include "ops/common/cuda_launch.h"
#include "ops/common/ids.h"
#include "ops/common/ragged.h"
#include "ops/ragged_attention/cuda/ragged_attention_kernel.h"

namespace lemur::ops {

BankAttentionInputs bank_attention_check(const at::Tensor& q, const at::Tensor& bank,
                                         const at::Tensor& written, const at::Tensor& ids,
                                         const at::Tensor& q_offsets, const at::Tensor& k_offsets) {
  const std::string op = "bank_attention";
  if (q.dim() != 3)
    throw UserError(op + ": q must be [Tq, H, E], got shape " + c10::str(q.sizes()));
  if (bank.dim() != 2)
    throw UserError(op + ": bank must be [N, E], got shape " + c10::str(bank.sizes()));
  if (!at::isFloatingType(q.scalar_type()) || !at::isFloatingType(bank.scalar_type()))
    throw UserError(op + ": q and bank must be floating point, got " +
                    c10::toString(q.scalar_type()) + " and " + c10::toString(bank.scalar_type()));
  if (q.size(2) != bank.size(1))
    throw UserError(op + ": q's last dim must be the bank width, got q " + c10::str(q.sizes()) +
                    " and bank " + c10::str(bank.sizes()));
  if (q.size(2) < 1) throw UserError(op + ": the bank width must be positive");
  check_written(written, bank, op);
  if (bank.device() != q.device() || written.device() != q.device() || ids.device() != q.device())
    throw UserError(op + ": q, bank, written and ids must be on one device, got " + q.device().str() +
                    ", " + bank.device().str() + ", " + written.device().str() + " and " +
                    ids.device().str());
  if (q.is_cuda()) {
    for (const at::Tensor* t : {&q, &bank})
      if (t->scalar_type() != at::kFloat && t->scalar_type() != at::kHalf &&
          t->scalar_type() != at::kBFloat16)
        throw UserError(op + ": on CUDA, q and bank must be float32, float16 or bfloat16, got " +
                        std::string(c10::toString(t->scalar_type())));
    if (q.size(2) > 128)
      throw UserError(op + ": on CUDA, bank widths up to 128 are supported, got " +
                      std::to_string(q.size(2)));
  }
  BankAttentionInputs in;
  in.ids = checked_ids(ids, bank.size(0), op, "ids");
  in.q = q.contiguous();
  in.bank = bank.contiguous();
  in.written = written.contiguous();
  in.q_offsets_cpu = checked_offsets(q_offsets, q.size(0), at::kCPU, op, "q_offsets", "q");
  in.k_offsets_cpu = checked_offsets(k_offsets, in.ids.size(0), at::kCPU, op, "k_offsets", "ids");
  if (in.q_offsets_cpu.numel() != in.k_offsets_cpu.numel())
    throw UserError(op + ": q_offsets has " + std::to_string(in.q_offsets_cpu.numel()) +
                    " entries but k_offsets has " + std::to_string(in.k_offsets_cpu.numel()) +
                    ": both must be [B+1] for the same B");
  in.q_row_offsets_cpu = in.q_offsets_cpu * q.size(1);
  in.q_offsets = in.q_offsets_cpu.to(q.device());
  in.k_offsets = in.k_offsets_cpu.to(q.device());
  in.q_row_offsets = in.q_row_offsets_cpu.to(q.device());
  return in;
}

#ifdef LEMUR_WITH_CUDA
namespace {
cuda::BankAttentionLaunch launch_args(const BankAttentionInputs& in, double scale) {
  cuda::BankAttentionLaunch a;
  a.q_dtype = cuda::dtype_of(in.q);
  a.bank_dtype = cuda::dtype_of(in.bank);
  a.q = in.q.data_ptr();
  a.bank = in.bank.data_ptr();
  a.written = static_cast<const uint8_t*>(in.written.data_ptr());
  a.ids = in.ids.data_ptr<int64_t>();
  a.q_row_offsets = in.q_row_offsets.data_ptr<int64_t>();
  a.k_offsets = in.k_offsets.data_ptr<int64_t>();
  a.batch = in.q_offsets_cpu.numel() - 1;
  a.e = in.q.size(2);
  a.total_rows = in.q.size(0) * in.q.size(1);
  a.scale = static_cast<float>(scale);
  return a;
}

// Query rows per block and the tiles of the flattened query rows (both passes use the same).
std::pair<int, TileTable> query_tiles(const BankAttentionInputs& in) {
  const int rows = cuda::attention_query_rows_per_block(cuda::dtype_of(in.q), cuda::dtype_of(in.bank), in.q.size(2),
                                                        in.q.size(2), max_length(in.q_row_offsets_cpu));
  return {rows, tile_table(in.q_row_offsets_cpu, rows, in.q.device())};
}
}  // namespace
#endif

std::tuple<at::Tensor, at::Tensor> bank_attention_forward(const BankAttentionInputs& in, double scale) {
  if (in.q.is_cuda()) {
#ifdef LEMUR_WITH_CUDA
    const auto [rows, tiles] = query_tiles(in);
    at::Tensor out = at::empty_like(in.q);
    at::Tensor lse = at::empty({in.q.size(0), in.q.size(1)}, in.q.options().dtype(at::kFloat));
    cuda::bank_attention_forward(launch_args(in, scale), tiles.prefix.data_ptr<int64_t>(), tiles.count, rows,
                                 out.data_ptr(), lse.data_ptr<float>(), cuda::current_stream(in.q));
    return {out, lse};
#else
    throw UserError("bank_attention: this build of lemur has no CUDA support");
#endif
  }
  return cpu::bank_attention_forward_kernel(in, scale);
}

at::Tensor bank_attention_backward(const BankAttentionInputs& in, const at::Tensor& out,
                                   const at::Tensor& lse, const at::Tensor& grad_out_in, double scale) {
  if (!grad_out_in.sizes().equals(out.sizes()))
    throw UserError("bank_attention: the gradient of out must have shape " + c10::str(out.sizes()) +
                    ", got " + c10::str(grad_out_in.sizes()));
  at::Tensor grad_out = grad_out_in.to(out.device(), out.scalar_type()).contiguous();
  if (in.q.is_cuda()) {
#ifdef LEMUR_WITH_CUDA
    const auto [rows, tiles] = query_tiles(in);
    at::Tensor dq = at::empty_like(in.q);
    at::Tensor dd = at::empty({in.q.size(0), in.q.size(1)}, in.q.options().dtype(at::kFloat));
    at::Tensor o = out.contiguous(), l = lse.contiguous();
    cuda::bank_attention_backward(launch_args(in, scale), tiles.prefix.data_ptr<int64_t>(), tiles.count, rows,
                                  o.data_ptr(), grad_out.data_ptr(), l.data_ptr<float>(),
                                  dd.data_ptr<float>(), dq.data_ptr(), cuda::current_stream(in.q));
    return dq;
#else
    throw UserError("bank_attention: this build of lemur has no CUDA support");
#endif
  }
  return cpu::bank_attention_backward_kernel(in, out, lse, grad_out, scale);
}

}  // namespace lemur::ops
