// nn.*: model building blocks exposed for tests against their definitions (token mixing,
// per-token FFN, losses). Synchronous; small inputs.
#include <ATen/ATen.h>

#include "bindings/bindings.h"
#include "core/js_error.h"
#include "core/tensor_object.h"
#include "model/losses.h"
#include "model/rank_mixer.h"

namespace lemur {
namespace {

at::Tensor arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i) throw UserError(std::string(what) + " is missing");
  return TensorObject::TensorOf(info.Env(), info[i], what);
}

// tokenMix(x [B, T, D]) -> [B, T, D]
Napi::Value TokenMix(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&]() -> Napi::Value {
    at::Tensor x = arg(info, 0, "tokenMix: x");
    if (x.dim() != 3 || x.size(2) % x.size(1) != 0)
      throw UserError("tokenMix: x must be [B, T, D] with D divisible by T, got " + c10::str(x.sizes()));
    return TensorObject::Wrap(info.Env(), model::token_mix(x));
  });
}

// perTokenFfn(x [B, T, D], hidden, seed) -> output of a freshly initialized PerTokenFFN
Napi::Value PerTokenFfn(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&]() -> Napi::Value {
    at::Tensor x = arg(info, 0, "perTokenFfn: x").to(at::kFloat);
    const int64_t hidden = info[1].As<Napi::Number>().Int64Value();
    at::manual_seed(info[2].As<Napi::Number>().Int64Value());
    model::PerTokenFFN ffn(x.size(1), x.size(2), hidden);
    at::NoGradGuard ng;
    return TensorObject::Wrap(info.Env(), ffn(x));
  });
}

// sqdcLoss(q [B, e], d [B, e], labels [B], queryIds [B], temperature, sameQueryMask) -> number
Napi::Value SqdcLoss(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&]() -> Napi::Value {
    at::Tensor loss = model::sqdc_loss(arg(info, 0, "sqdcLoss: q").to(at::kFloat), arg(info, 1, "sqdcLoss: d").to(at::kFloat),
                                       arg(info, 2, "sqdcLoss: labels"), arg(info, 3, "sqdcLoss: queryIds").to(at::kLong),
                                       info[4].As<Napi::Number>().DoubleValue(), info[5].ToBoolean().Value());
    return Napi::Number::New(info.Env(), loss.item<double>());
  });
}

Napi::Value BceLoss(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&]() -> Napi::Value {
    at::Tensor loss = model::bce_loss(arg(info, 0, "bceLoss: logits"), arg(info, 1, "bceLoss: labels"));
    return Napi::Number::New(info.Env(), loss.item<double>());
  });
}

}  // namespace

void init_nn_binding(Napi::Env env, Napi::Object exports) {
  Napi::Object nn = Napi::Object::New(env);
  nn.Set("tokenMix", Napi::Function::New<TokenMix>(env, "tokenMix"));
  nn.Set("perTokenFfn", Napi::Function::New<PerTokenFfn>(env, "perTokenFfn"));
  nn.Set("sqdcLoss", Napi::Function::New<SqdcLoss>(env, "sqdcLoss"));
  nn.Set("bceLoss", Napi::Function::New<BceLoss>(env, "bceLoss"));
  exports.Set("nn", nn);
}

}  // namespace lemur
