// ops.*: the op layer exposed directly, synchronously, for tests and low-level use. Each
// takes Tensors (or TypedArrays, borrowed) and returns Tensors.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "bindings/bindings.h"
#include "core/js_error.h"
#include "core/tensor_object.h"
#include "ops/bank_attention/bank_attention.h"
#include "ops/expand_rows/expand_rows.h"
#include "ops/gelu/gelu.h"
#include "ops/layer_norm/layer_norm.h"
#include "ops/linear/linear.h"
#include "ops/linear/token_linear.h"
#include "ops/memory_bank/memory_bank_ops.h"
#include "ops/ragged_attention/ragged_attention.h"
#include "ops/ragged_mean_pool/ragged_mean_pool.h"

namespace lemur {
namespace {

at::Tensor arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i) throw UserError(std::string(what) + " is missing");
  return TensorObject::TensorOf(info.Env(), info[i], what);
}

bool given(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && !info[i].IsUndefined() && !info[i].IsNull();
}

double number(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) throw UserError(std::string(what) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

int64_t integer(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() > i && info[i].IsBigInt()) {
    bool lossless = true;
    int64_t v = info[i].As<Napi::BigInt>().Int64Value(&lossless);
    if (lossless) return v;
  }
  const double d = number(info, i, what);
  if (d != static_cast<double>(static_cast<int64_t>(d)))
    throw UserError(std::string(what) + " must be an integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

// A fresh leaf that requires grad, with the same values and strides as `t`.
at::Tensor grad_leaf(const at::Tensor& t) { return t.detach().clone().requires_grad_(true); }

// Runs out.backward(gradOut) after checking gradOut's shape.
void backward_from(const at::Tensor& out, const at::Tensor& grad_out, const char* what) {
  if (!grad_out.sizes().equals(out.sizes()))
    throw UserError(std::string(what) + ": gradOut must have shape " + c10::str(out.sizes()) +
                    ", got " + c10::str(grad_out.sizes()));
  out.backward(grad_out.to(out.device(), out.scalar_type()));
}

// A gradient as returned to JS: zeros where autograd produced none (nothing flowed).
at::Tensor grad_of(const at::Tensor& t) {
  return t.grad().defined() ? t.grad() : at::zeros_like(t);
}

// raggedAttention(q, k, v, qOffsets, kOffsets, keyMask | null, scale[, gradOut])
//   -> { out, gradQ?, gradK?, gradV? }
Napi::Value RaggedAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    const char* fn = "raggedAttention";
    at::Tensor q = arg(info, 0, "raggedAttention: q");
    at::Tensor k = arg(info, 1, "raggedAttention: k");
    at::Tensor v = arg(info, 2, "raggedAttention: v");
    at::Tensor q_offsets = arg(info, 3, "raggedAttention: qOffsets");
    at::Tensor k_offsets = arg(info, 4, "raggedAttention: kOffsets");
    c10::optional<at::Tensor> mask;
    if (given(info, 5)) mask = arg(info, 5, "raggedAttention: keyMask");
    const double scale = number(info, 6, "raggedAttention: scale");
    Napi::Object result = Napi::Object::New(env);
    if (given(info, 7)) {
      at::Tensor grad_out = arg(info, 7, "raggedAttention: gradOut");
      at::Tensor lq = grad_leaf(q), lk = grad_leaf(k), lv = grad_leaf(v);
      at::Tensor out = ops::ragged_attention(lq, lk, lv, q_offsets, k_offsets, mask, scale);
      backward_from(out, grad_out, fn);
      result.Set("out", TensorObject::Wrap(env, out.detach()));
      result.Set("gradQ", TensorObject::Wrap(env, grad_of(lq)));
      result.Set("gradK", TensorObject::Wrap(env, grad_of(lk)));
      result.Set("gradV", TensorObject::Wrap(env, grad_of(lv)));
    } else {
      result.Set("out", TensorObject::Wrap(env, ops::ragged_attention(q, k, v, q_offsets, k_offsets, mask, scale)));
    }
    return result;
  });
}

// raggedSelfAttention(qkv [T, 3, H, D], offsets, scale[, gradOut]) -> { out, gradQkv? }
Napi::Value RaggedSelfAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    at::Tensor qkv = arg(info, 0, "raggedSelfAttention: qkv");
    at::Tensor offsets = arg(info, 1, "raggedSelfAttention: offsets");
    const double scale = number(info, 2, "raggedSelfAttention: scale");
    Napi::Object result = Napi::Object::New(env);
    if (!given(info, 3)) {
      result.Set("out", TensorObject::Wrap(env, ops::ragged_self_attention(qkv, offsets, scale)));
      return result;
    }
    at::Tensor leaf = grad_leaf(qkv);
    at::Tensor out = ops::ragged_self_attention(leaf, offsets, scale);
    backward_from(out, arg(info, 3, "raggedSelfAttention: gradOut"), "raggedSelfAttention");
    result.Set("out", TensorObject::Wrap(env, out.detach()));
    result.Set("gradQkv", TensorObject::Wrap(env, grad_of(leaf)));
    return result;
  });
}

// raggedAttentionPackedKv(q [Tq, H, D], kv [Tk, 2, H, D], qOffsets, kOffsets, scale[, gradOut])
//   -> { out, gradQ?, gradKv? }
Napi::Value RaggedAttentionPackedKv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    at::Tensor q = arg(info, 0, "raggedAttentionPackedKv: q");
    at::Tensor kv = arg(info, 1, "raggedAttentionPackedKv: kv");
    at::Tensor q_offsets = arg(info, 2, "raggedAttentionPackedKv: qOffsets");
    at::Tensor k_offsets = arg(info, 3, "raggedAttentionPackedKv: kOffsets");
    const double scale = number(info, 4, "raggedAttentionPackedKv: scale");
    Napi::Object result = Napi::Object::New(env);
    if (!given(info, 5)) {
      result.Set("out", TensorObject::Wrap(env, ops::ragged_attention_packed_kv(q, kv, q_offsets, k_offsets, scale)));
      return result;
    }
    at::Tensor lq = grad_leaf(q), lkv = grad_leaf(kv);
    at::Tensor out = ops::ragged_attention_packed_kv(lq, lkv, q_offsets, k_offsets, scale);
    backward_from(out, arg(info, 5, "raggedAttentionPackedKv: gradOut"), "raggedAttentionPackedKv");
    result.Set("out", TensorObject::Wrap(env, out.detach()));
    result.Set("gradQ", TensorObject::Wrap(env, grad_of(lq)));
    result.Set("gradKv", TensorObject::Wrap(env, grad_of(lkv)));
    return result;
  });
}

// bankAttention(q, bank, written, ids, qOffsets, kOffsets, scale[, gradOut]) -> { out, gradQ? }
Napi::Value BankAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    at::Tensor q = arg(info, 0, "bankAttention: q");
    at::Tensor bank = arg(info, 1, "bankAttention: bank");
    at::Tensor written = arg(info, 2, "bankAttention: written");
    at::Tensor ids = arg(info, 3, "bankAttention: ids");
    at::Tensor q_offsets = arg(info, 4, "bankAttention: qOffsets");
    at::Tensor k_offsets = arg(info, 5, "bankAttention: kOffsets");
    const double scale = number(info, 6, "bankAttention: scale");
    Napi::Object result = Napi::Object::New(env);
    if (given(info, 7)) {
      at::Tensor grad_out = arg(info, 7, "bankAttention: gradOut");
      at::Tensor lq = grad_leaf(q);
      at::Tensor out = ops::bank_attention(lq, bank, written, ids, q_offsets, k_offsets, scale);
      backward_from(out, grad_out, "bankAttention");
      result.Set("out", TensorObject::Wrap(env, out.detach()));
      result.Set("gradQ", TensorObject::Wrap(env, grad_of(lq)));
    } else {
      result.Set("out", TensorObject::Wrap(env, ops::bank_attention(q, bank, written, ids, q_offsets, k_offsets, scale)));
    }
    return result;
  });
}

// bankGather(bank, written, ids) -> { rows, present }
Napi::Value BankGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    auto [rows, present] = ops::bank_gather(arg(info, 0, "bankGather: bank"), arg(info, 1, "bankGather: written"),
                                            arg(info, 2, "bankGather: ids"));
    Napi::Object result = Napi::Object::New(env);
    result.Set("rows", TensorObject::Wrap(env, rows));
    result.Set("present", TensorObject::Wrap(env, present));
    return result;
  });
}

// bankScatter(bank, written, lastStep, ids, rows, step): writes bank, written and lastStep in place.
Napi::Value BankScatter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    ops::bank_scatter(arg(info, 0, "bankScatter: bank"), arg(info, 1, "bankScatter: written"),
                      arg(info, 2, "bankScatter: lastStep"), arg(info, 3, "bankScatter: ids"),
                      arg(info, 4, "bankScatter: rows"), integer(info, 5, "bankScatter: step"));
    return env.Undefined();
  });
}

// dedupIds(ids) -> { unique, inverse }
Napi::Value DedupIds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    auto [unique, inverse] = ops::dedup_ids(arg(info, 0, "dedupIds: ids"));
    Napi::Object result = Napi::Object::New(env);
    result.Set("unique", TensorObject::Wrap(env, unique));
    result.Set("inverse", TensorObject::Wrap(env, inverse));
    return result;
  });
}

// expandRows(src, inverse[, gradOut]) -> { out, gradSrc? }
Napi::Value ExpandRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    at::Tensor src = arg(info, 0, "expandRows: src");
    at::Tensor inverse = arg(info, 1, "expandRows: inverse");
    Napi::Object result = Napi::Object::New(env);
    if (given(info, 2)) {
      at::Tensor grad_out = arg(info, 2, "expandRows: gradOut");
      at::Tensor ls = grad_leaf(src);
      at::Tensor out = ops::expand_rows(ls, inverse);
      backward_from(out, grad_out, "expandRows");
      result.Set("out", TensorObject::Wrap(env, out.detach()));
      result.Set("gradSrc", TensorObject::Wrap(env, grad_of(ls)));
    } else {
      result.Set("out", TensorObject::Wrap(env, ops::expand_rows(src, inverse)));
    }
    return result;
  });
}

// segmentSumRows(grad, inverse, numRows) -> Tensor [numRows, D]
Napi::Value SegmentSumRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    return TensorObject::Wrap(env, ops::segment_sum_rows(arg(info, 0, "segmentSumRows: grad"),
                                                         arg(info, 1, "segmentSumRows: inverse"),
                                                         integer(info, 2, "segmentSumRows: numRows")));
  });
}

// raggedMeanPool(values, offsets[, gradOut]) -> { out, gradValues? }: the forward, and the
// gradient of sum(out * gradOut) with respect to values when gradOut is given.
Napi::Value RaggedMeanPool(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    at::Tensor values = arg(info, 0, "raggedMeanPool: values");
    at::Tensor offsets = arg(info, 1, "raggedMeanPool: offsets");
    Napi::Object result = Napi::Object::New(env);
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      at::Tensor grad_out = arg(info, 2, "raggedMeanPool: gradOut");
      at::Tensor leaf = values.detach().clone().requires_grad_(true);
      at::Tensor out = ops::ragged_mean_pool(leaf, offsets);
      if (!grad_out.sizes().equals(out.sizes()))
        throw UserError("raggedMeanPool: gradOut must have shape " + c10::str(out.sizes()) +
                        ", got " + c10::str(grad_out.sizes()));
      out.backward(grad_out.to(out.device(), out.scalar_type()));
      result.Set("out", TensorObject::Wrap(env, out.detach()));
      result.Set("gradValues", TensorObject::Wrap(env, leaf.grad()));
    } else {
      result.Set("out", TensorObject::Wrap(env, ops::ragged_mean_pool(values, offsets)));
    }
    return result;
  });
}

// linear(x, weight, bias | null[, gradOut]) -> { out, gradX?, gradWeight?, gradBias? }
Napi::Value Linear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    at::Tensor x = arg(info, 0, "linear: x");
    at::Tensor weight = arg(info, 1, "linear: weight");
    at::Tensor bias = given(info, 2) ? arg(info, 2, "linear: bias") : at::Tensor();
    if (weight.dim() != 2 || x.dim() < 1 || x.size(-1) != weight.size(1) || (bias.defined() && (bias.dim() != 1 || bias.size(0) != weight.size(0))))
      throw UserError("linear: expected x [..., in], weight [out, in] and bias [out]; got x " + c10::str(x.sizes()) +
                      ", weight " + c10::str(weight.sizes()) + (bias.defined() ? ", bias " + c10::str(bias.sizes()) : std::string()));
    Napi::Object result = Napi::Object::New(env);
    if (!given(info, 3)) {
      result.Set("out", TensorObject::Wrap(env, ops::linear(x, weight, bias)));
      return result;
    }
    at::Tensor xl = grad_leaf(x), wl = grad_leaf(weight), bl = bias.defined() ? grad_leaf(bias) : at::Tensor();
    at::Tensor out = ops::linear(xl, wl, bl);
    backward_from(out, arg(info, 3, "linear: gradOut"), "linear");
    result.Set("out", TensorObject::Wrap(env, out.detach()));
    result.Set("gradX", TensorObject::Wrap(env, grad_of(xl)));
    result.Set("gradWeight", TensorObject::Wrap(env, grad_of(wl)));
    if (bl.defined()) result.Set("gradBias", TensorObject::Wrap(env, grad_of(bl)));
    return result;
  });
}

// gelu(x[, gradOut]) -> { out, gradX? }
Napi::Value Gelu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    at::Tensor x = arg(info, 0, "gelu: x");
    if (!at::isFloatingType(x.scalar_type()))
      throw UserError(std::string("gelu: x must be floating point, got ") + c10::toString(x.scalar_type()));
    Napi::Object result = Napi::Object::New(env);
    if (!given(info, 1)) {
      result.Set("out", TensorObject::Wrap(env, ops::gelu(x)));
      return result;
    }
    at::Tensor xl = grad_leaf(x);
    at::Tensor out = ops::gelu(xl);
    backward_from(out, arg(info, 1, "gelu: gradOut"), "gelu");
    result.Set("out", TensorObject::Wrap(env, out.detach()));
    result.Set("gradX", TensorObject::Wrap(env, grad_of(xl)));
    return result;
  });
}

// layerNorm(x, weight, bias, eps[, gradOut]) -> { out, gradX?, gradWeight?, gradBias? }
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    at::Tensor x = arg(info, 0, "layerNorm: x");
    at::Tensor weight = arg(info, 1, "layerNorm: weight");
    at::Tensor bias = arg(info, 2, "layerNorm: bias");
    if (info.Length() < 4 || !info[3].IsNumber()) throw UserError("layerNorm: eps must be a number");
    const double eps = info[3].As<Napi::Number>().DoubleValue();
    if (x.dim() < 1 || weight.dim() != 1 || bias.dim() != 1 || weight.size(0) != x.size(-1) || bias.size(0) != x.size(-1))
      throw UserError("layerNorm: expected x [..., N], weight [N] and bias [N]; got x " + c10::str(x.sizes()) +
                      ", weight " + c10::str(weight.sizes()) + ", bias " + c10::str(bias.sizes()));
    Napi::Object result = Napi::Object::New(env);
    if (!given(info, 4)) {
      result.Set("out", TensorObject::Wrap(env, ops::layer_norm(x, weight, bias, eps)));
      return result;
    }
    at::Tensor xl = grad_leaf(x), wl = grad_leaf(weight), bl = grad_leaf(bias);
    at::Tensor out = ops::layer_norm(xl, wl, bl, eps);
    backward_from(out, arg(info, 4, "layerNorm: gradOut"), "layerNorm");
    result.Set("out", TensorObject::Wrap(env, out.detach()));
    result.Set("gradX", TensorObject::Wrap(env, grad_of(xl)));
    result.Set("gradWeight", TensorObject::Wrap(env, grad_of(wl)));
    result.Set("gradBias", TensorObject::Wrap(env, grad_of(bl)));
    return result;
  });
}

// tokenLinear(x, weight, bias | null[, gradOut]) -> { out, gradX?, gradWeight?, gradBias? }
Napi::Value TokenLinear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    at::Tensor x = arg(info, 0, "tokenLinear: x");
    at::Tensor weight = arg(info, 1, "tokenLinear: weight");
    at::Tensor bias = given(info, 2) ? arg(info, 2, "tokenLinear: bias") : at::Tensor();
    Napi::Object result = Napi::Object::New(env);
    if (!given(info, 3)) {
      result.Set("out", TensorObject::Wrap(env, ops::token_linear(x, weight, bias)));
      return result;
    }
    at::Tensor xl = grad_leaf(x), wl = grad_leaf(weight), bl = bias.defined() ? grad_leaf(bias) : at::Tensor();
    at::Tensor out = ops::token_linear(xl, wl, bl);
    backward_from(out, arg(info, 3, "tokenLinear: gradOut"), "tokenLinear");
    result.Set("out", TensorObject::Wrap(env, out.detach()));
    result.Set("gradX", TensorObject::Wrap(env, grad_of(xl)));
    result.Set("gradWeight", TensorObject::Wrap(env, grad_of(wl)));
    if (bl.defined()) result.Set("gradBias", TensorObject::Wrap(env, grad_of(bl)));
    return result;
  });
}

}  // namespace

void init_ops_binding(Napi::Env env, Napi::Object exports) {
  Napi::Object ops = Napi::Object::New(env);
  ops.Set("raggedMeanPool", Napi::Function::New<RaggedMeanPool>(env, "raggedMeanPool"));
  ops.Set("linear", Napi::Function::New<Linear>(env, "linear"));
  ops.Set("tokenLinear", Napi::Function::New<TokenLinear>(env, "tokenLinear"));
  ops.Set("gelu", Napi::Function::New<Gelu>(env, "gelu"));
  ops.Set("layerNorm", Napi::Function::New<LayerNorm>(env, "layerNorm"));
  ops.Set("raggedAttention", Napi::Function::New<RaggedAttention>(env, "raggedAttention"));
  ops.Set("raggedSelfAttention", Napi::Function::New<RaggedSelfAttention>(env, "raggedSelfAttention"));
  ops.Set("raggedAttentionPackedKv", Napi::Function::New<RaggedAttentionPackedKv>(env, "raggedAttentionPackedKv"));
  ops.Set("bankAttention", Napi::Function::New<BankAttention>(env, "bankAttention"));
  ops.Set("bankGather", Napi::Function::New<BankGather>(env, "bankGather"));
  ops.Set("bankScatter", Napi::Function::New<BankScatter>(env, "bankScatter"));
  ops.Set("dedupIds", Napi::Function::New<DedupIds>(env, "dedupIds"));
  ops.Set("expandRows", Napi::Function::New<ExpandRows>(env, "expandRows"));
  ops.Set("segmentSumRows", Napi::Function::New<SegmentSumRows>(env, "segmentSumRows"));
  exports.Set("ops", ops);
}

}  // namespace lemur
