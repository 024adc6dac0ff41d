#include "ops/ragged_attention/ragged_attention.h"

#include <ATen/ATen.h>

#include "core/js_error.h"
#include "ops/common/cuda_launch.h"
#include "ops/common/ragged.h"
#include "ops/ragged_attention/cuda/ragged_attention_kernel.h"

namespace lemur::ops {

namespace {

const char* kOp = "ragged_attention";

std::string shape_str(const at::Tensor& t) { return c10::str(t.sizes()); }

void check_3d(const at::Tensor& t, const char* name, const char* dims) {
  if (t.dim() != 3)
    throw UserError(std::string(kOp) + ": " + name + " must be " + dims + ", got shape " + shape_str(t));
  if (!at::isFloatingType(t.scalar_type()))
    throw UserError(std::string(kOp) + ": " + name + " must be floating point, got " +
                    c10::toString(t.scalar_type()));
}

// float32 on CPU is read where it lies at any row stride (the row kernels take one); every
// other case is made contiguous.
at::Tensor rows_or_contiguous(const at::Tensor& t) {
  const bool rows = t.device().is_cpu() && t.scalar_type() == at::kFloat && t.stride(2) == 1 &&
                    t.stride(1) == t.size(2) && t.stride(0) >= t.size(1) * t.size(2);
  return rows ? t : t.contiguous();
}

}  // namespace

RaggedAttentionInputs ragged_attention_check(const at::Tensor& q, const at::Tensor& k,
                                             const at::Tensor& v, const at::Tensor& q_offsets,
                                             const at::Tensor& k_offsets,
                                             const c10::optional<at::Tensor>& key_mask) {
  const std::string op = kOp;
  check_3d(q, "q", "[Tq, H, D]");
  check_3d(k, "k", "[Tk, H, D]");
  check_3d(v, "v", "[Tk, H, Dv]");
  if (k.scalar_type() != q.scalar_type() || v.scalar_type() != q.scalar_type())
    throw UserError(op + ": q, k and v must have one dtype, got " + c10::toString(q.scalar_type()) +
                    ", " + c10::toString(k.scalar_type()) + " and " + c10::toString(v.scalar_type()));
  if (k.device() != q.device() || v.device() != q.device())
    throw UserError(op + ": q, k and v must be on one device, got " + q.device().str() + ", " +
                    k.device().str() + " and " + v.device().str());
  if (k.size(1) != q.size(1) || v.size(1) != q.size(1))
    throw UserError(op + ": q, k and v must have the same number of heads, got shapes " +
                    shape_str(q) + ", " + shape_str(k) + " and " + shape_str(v));
  if (k.size(2) != q.size(2))
    throw UserError(op + ": q and k must have the same head dim, got shapes " + shape_str(q) +
                    " and " + shape_str(k));
  if (v.size(0) != k.size(0))
    throw UserError(op + ": k and v must have the same number of rows, got shapes " + shape_str(k) +
                    " and " + shape_str(v));
  if (q.size(2) < 1 || v.size(2) < 1)
    throw UserError(op + ": head dims must be positive, got shapes " + shape_str(q) + " and " +
                    shape_str(v));
  RaggedAttentionInputs in;
  in.q = rows_or_contiguous(q);
  in.k = rows_or_contiguous(k);
  in.v = rows_or_contiguous(v);
  in.q_offsets_cpu = checked_offsets(q_offsets, q.size(0), at::kCPU, op, "q_offsets", "q");
  in.k_offsets_cpu = checked_offsets(k_offsets, k.size(0), at::kCPU, op, "k_offsets", "k");
  if (in.q_offsets_cpu.numel() != in.k_offsets_cpu.numel())
    throw UserError(op + ": q_offsets has " + std::to_string(in.q_offsets_cpu.numel()) +
                    " entries but k_offsets has " + std::to_string(in.k_offsets_cpu.numel()) +
                    ": both must be [B+1] for the same B");
  in.q_offsets = in.q_offsets_cpu.to(q.device());
  in.k_offsets = in.k_offsets_cpu.to(q.device());
  if (key_mask.has_value() && key_mask->defined()) {
    const at::Tensor& m = *key_mask;
    if (m.dim() != 1 || m.size(0) != k.size(0))
      throw UserError(op + ": key_mask must be [Tk] = [" + std::to_string(k.size(0)) + "], got shape " +
                      shape_str(m));
    if (m.scalar_type() != at::kBool && m.scalar_type() != at::kByte)
      throw UserError(op + ": key_mask must be bool (or uint8), got " +
                      std::string(c10::toString(m.scalar_type())));
    in.key_mask = m.to(q.device(), at::kBool).contiguous();
  }
  if (q.is_cuda()) {
    if (q.scalar_type() != at::kFloat && q.scalar_type() != at::kHalf && q.scalar_type() != at::kBFloat16)
      throw UserError(op + ": on CUDA, q, k and v must be float32, float16 or bfloat16, got " +
                      std::string(c10::toString(q.scalar_type())));
    if (q.size(2) > 128 || v.size(2) > 128)
      throw UserError(op + ": on CUDA, head dims up to 128 are supported, got D = " +
                      std::to_string(q.size(2)) + ", Dv = " + std::to_string(v.size(2)));
  }
  return in;
}

#ifdef LEMUR_WITH_CUDA
namespace {
cuda::RaggedAttentionLaunch launch_args(const RaggedAttentionInputs& in, double scale) {
  cuda::RaggedAttentionLaunch a;
  a.dtype = cuda::dtype_of(in.q);
  a.q = in.q.data_ptr();
  a.k = in.k.data_ptr();
  a.v = in.v.data_ptr();
  a.key_mask = in.key_mask.defined() ? reinterpret_cast<const uint8_t*>(in.key_mask.data_ptr()) : nullptr;
  a.q_offsets = in.q_offsets.data_ptr<int64_t>();
  a.k_offsets = in.k_offsets.data_ptr<int64_t>();
  a.batch = in.q_offsets_cpu.numel() - 1;
  a.heads = in.q.size(1);
  a.d = in.q.size(2);
  a.dv = in.v.size(2);
  a.total_q = in.q.size(0);
  a.total_k = in.k.size(0);
  a.scale = static_cast<float>(scale);
  return a;
}

// Query rows per block and the query tiles (both passes use the same).
std::pair<int, TileTable> query_tiles(const RaggedAttentionInputs& in) {
  const cuda::DType dt = cuda::dtype_of(in.q);
  const int rows = cuda::attention_query_rows_per_block(dt, dt, in.q.size(2), in.v.size(2), max_length(in.q_offsets_cpu));
  return {rows, tile_table(in.q_offsets_cpu, rows, in.q.device())};
}
}  // namespace
#endif

std::tuple<at::Tensor, at::Tensor> ragged_attention_forward(const RaggedAttentionInputs& in,
                                                           double scale) {
  if (in.q.is_cuda()) {
#ifdef LEMUR_WITH_CUDA
    const auto [rows, tiles] = query_tiles(in);
    at::Tensor out = at::empty({in.q.size(0), in.q.size(1), in.v.size(2)}, in.q.options());
    at::Tensor lse = at::empty({in.q.size(0), in.q.size(1)}, in.q.options().dtype(at::kFloat));
    cuda::ragged_attention_forward(launch_args(in, scale), tiles.prefix.data_ptr<int64_t>(), tiles.count, rows,
                                   out.data_ptr(), lse.data_ptr<float>(), cuda::current_stream(in.q));
    return {out, lse};
#else
    throw UserError("ragged_attention: this build of lemur has no CUDA support");
#endif
  }
  return cpu::ragged_attention_forward_kernel(in, scale);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ragged_attention_backward(
    const RaggedAttentionInputs& in, const at::Tensor& out, const at::Tensor& lse,
    const at::Tensor& grad_out_in, double scale, const RaggedAttentionGrads* into) {
  if (into) {
    auto fits = [](const at::Tensor& g, const at::Tensor& like) {
      return g.sizes().equals(like.sizes()) && g.scalar_type() == like.scalar_type() && g.device() == like.device() &&
             g.stride(2) == 1 && g.stride(1) == g.size(2);
    };
    TORCH_INTERNAL_ASSERT(fits(into->dq, in.q) && fits(into->dk, in.k) && fits(into->dv, in.v),
                          "ragged_attention: gradients to write must be shaped like q, k and v with dims 1, 2 dense");
  }
  if (!grad_out_in.sizes().equals(out.sizes()))
    throw UserError("ragged_attention: the gradient of out must have shape " + c10::str(out.sizes()) +
                    ", got " + c10::str(grad_out_in.sizes()));
  at::Tensor grad_out = grad_out_in.to(out.device(), out.scalar_type()).contiguous();
  if (in.q.is_cuda()) {
#ifdef LEMUR_WITH_CUDA
    const auto [rows, q_tiles] = query_tiles(in);
    const TileTable k_tiles = tile_table(in.k_offsets_cpu, cuda::kAttentionKeysPerBlock, in.q.device());
    at::Tensor dq = at::empty_like(in.q), dk = at::empty_like(in.k), dv = at::empty_like(in.v);
    at::Tensor dd = at::empty({in.q.size(0), in.q.size(1)}, in.q.options().dtype(at::kFloat));
    at::Tensor o = out.contiguous(), l = lse.contiguous();
    cuda::ragged_attention_backward(launch_args(in, scale), q_tiles.prefix.data_ptr<int64_t>(), q_tiles.count,
                                    rows, k_tiles.prefix.data_ptr<int64_t>(), k_tiles.count, o.data_ptr(),
                                    grad_out.data_ptr(), l.data_ptr<float>(), dd.data_ptr<float>(),
                                    dq.data_ptr(), dk.data_ptr(), dv.data_ptr(),
                                    cuda::current_stream(in.q));
    if (into) return {into->dq.copy_(dq), into->dk.copy_(dk), into->dv.copy_(dv)};
    return {dq, dk, dv};
#else
    throw UserError("ragged_attention: this build of lemur has no CUDA support");
#endif
  }
  return cpu::ragged_attention_backward_kernel(in, out, lse, grad_out, scale, into);
}

}  // namespace lemur::ops
