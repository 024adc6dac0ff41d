// ops.*: the op layer exposed directly, synchronously, for tests and low-level use. Each
// takes Tensors (or TypedArrays, borrowed) and returns Tensors.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "bindings/bindings.h"
#include "core/js_error.h"
#include "core/tensor_object.h"
#include "ops/ragged_mean_pool/ragged_mean_pool.h"

namespace lemur {
namespace {

at::Tensor arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i) throw UserError(std::string(what) + " is missing");
  return TensorObject::TensorOf(info.Env(), info[i], what);
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

}  // namespace

void init_ops_binding(Napi::Env env, Napi::Object exports) {
  Napi::Object ops = Napi::Object::New(env);
  ops.Set("raggedMeanPool", Napi::Function::New<RaggedMeanPool>(env, "raggedMeanPool"));
  exports.Set("ops", ops);
}

}  // namespace lemur
