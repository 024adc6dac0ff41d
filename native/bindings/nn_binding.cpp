// nn.*: model building blocks exposed for tests against their definitions (token mixing,
// per-token FFN, losses, similarity features, the row-wise sparse optimizers, the encoders'
// first-rows-only last layer). Synchronous; small inputs.
#include <ATen/ATen.h>

#include "bindings/bindings.h"
#include "core/js_error.h"
#include "core/tensor_object.h"
#include "model/embedding_tables.h"
#include "model/fused_adamw.h"
#include "model/losses.h"
#include "model/memory_bank.h"
#include "model/rank_mixer.h"
#include "model/sequence_modules.h"
#include "model/text_encoder.h"

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

// similarityFeatures(target [B, e], offsets [B+1], ids [T], rows [N, e], written [N], k)
//   -> [B, 2k]: the model's similarity features over a bank holding `rows` where written.
Napi::Value SimilarityFeatures(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&]() -> Napi::Value {
    at::Tensor target = arg(info, 0, "similarityFeatures: target").to(at::kFloat);
    data::SequenceBatch seq;
    seq.offsets = arg(info, 1, "similarityFeatures: offsets").to(at::kLong);
    seq.ids = arg(info, 2, "similarityFeatures: ids").to(at::kLong);
    at::Tensor rows = arg(info, 3, "similarityFeatures: rows").to(at::kFloat);
    at::Tensor written = arg(info, 4, "similarityFeatures: written").to(at::kBool);
    const int64_t k = info[5].As<Napi::Number>().Int64Value();
    model::MemoryBank bank(rows.size(0), rows.size(1), at::kFloat);
    at::Tensor w = written.nonzero().squeeze(1);
    bank->write(w, rows.index_select(0, w), 0);
    at::NoGradGuard ng;
    return TensorObject::Wrap(info.Env(), model::similarity_features(target, seq, *bank, k).features);
  });
}

// sparseUpdate({ kind, rows, dim, lr, eps, beta1, beta2, seed }, steps: [{ ids, grad }])
//   -> { initial, weights, evalRows }: a table's weights before and after the row-wise
//   optimizer applied each step's gradient (grad [len(ids), dim] for the looked-up rows), and
//   what an evaluation lookup of every row reads (untrained rows: zeros).
Napi::Value SparseUpdate(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].As<Napi::Object>();
    model::SparseOptimConfig cfg;
    cfg.kind = o.Get("kind").As<Napi::String>().Utf8Value();
    cfg.lr = o.Get("lr").As<Napi::Number>().DoubleValue();
    cfg.eps = o.Get("eps").As<Napi::Number>().DoubleValue();
    cfg.beta1 = o.Get("beta1").As<Napi::Number>().DoubleValue();
    cfg.beta2 = o.Get("beta2").As<Napi::Number>().DoubleValue();
    const int64_t rows = o.Get("rows").As<Napi::Number>().Int64Value();
    at::manual_seed(o.Get("seed").As<Napi::Number>().Int64Value());
    model::EmbeddingTables tables(o.Get("dim").As<Napi::Number>().Int64Value(), cfg);
    const int t = tables->add_table("t", rows);
    at::Tensor initial = tables->weight(t).clone();
    Napi::Array steps = info[1].As<Napi::Array>();
    for (uint32_t i = 0; i < steps.Length(); ++i) {
      Napi::Object st = steps.Get(i).As<Napi::Object>();
      at::Tensor ids = TensorObject::TensorOf(env, st.Get("ids"), "sparseUpdate: ids").to(at::kLong);
      at::Tensor grad = TensorObject::TensorOf(env, st.Get("grad"), "sparseUpdate: grad").to(at::kFloat);
      at::Tensor emb = tables->lookup(t, ids, /*train=*/true);
      (emb * grad).sum().backward();
      tables->sparse_step(1.0);
    }
    at::Tensor all = at::arange(rows, at::kLong);
    at::Tensor eval_rows;
    {
      at::NoGradGuard ng;
      eval_rows = tables->lookup(t, all, /*train=*/false);
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("initial", TensorObject::Wrap(env, initial));
    out.Set("weights", TensorObject::Wrap(env, tables->weight(t).clone()));
    out.Set("evalRows", TensorObject::Wrap(env, eval_rows.contiguous()));
    return out;
  });
}

// adamwSteps({ lr, weightDecay, beta1, beta2, eps, gradScale }, param, grads: [grad per step])
//   -> { fused, reference }: the parameter after those steps of FusedAdamW (gradients scaled
//   by gradScale inside its update) and of LibTorch's AdamW (gradients multiplied first, as
//   clip_grad_norm_ does), from the same start. A float32 contiguous parameter takes the fused
//   pass; others (float64, a transposed view) AdamW's own ops.
Napi::Value AdamwSteps(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].As<Napi::Object>();
    auto num = [&](const char* k) { return o.Get(k).As<Napi::Number>().DoubleValue(); };
    torch::optim::AdamWOptions opts(num("lr"));
    opts.betas({num("beta1"), num("beta2")}).eps(num("eps")).weight_decay(num("weightDecay"));
    const double scale = num("gradScale");
    at::Tensor start = arg(info, 1, "adamwSteps: param");
    Napi::Array grads = info[2].As<Napi::Array>();
    auto run = [&](bool fused) {
      at::Tensor p = start.detach().clone().requires_grad_(true);  // clone keeps a transposed layout
      std::unique_ptr<torch::optim::AdamW> opt = fused ? std::make_unique<model::FusedAdamW>(std::vector<at::Tensor>{p}, opts)
                                                       : std::make_unique<torch::optim::AdamW>(std::vector<at::Tensor>{p}, opts);
      for (uint32_t i = 0; i < grads.Length(); ++i) {
        at::Tensor g = TensorObject::TensorOf(env, grads.Get(i), "adamwSteps: grad").to(p.scalar_type());
        if (!g.sizes().equals(p.sizes()))
          throw UserError("adamwSteps: grad " + std::to_string(i) + " must have shape " + c10::str(p.sizes()));
        p.mutable_grad() = g.clone();
        if (fused) {
          static_cast<model::FusedAdamW&>(*opt).step_scaled(scale);
        } else {
          p.mutable_grad().mul_(scale);
          opt->step();
        }
      }
      return p.detach().contiguous();
    };
    Napi::Object out = Napi::Object::New(env);
    out.Set("fused", TensorObject::Wrap(env, run(true)));
    out.Set("reference", TensorObject::Wrap(env, run(false)));
    return out;
  });
}

// encoderFirstRows(x [T, W], offsets [B+1], heads, gradOut [B, W], seed): one encoder layer
// computed in full and read at each sequence's first row, and the same layer computed for
// those rows alone (forward_first, the text encoders' last layer), with the gradients of
// sum(out * gradOut) with respect to x and to every parameter, for both.
Napi::Value EncoderFirstRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    at::Tensor x = arg(info, 0, "encoderFirstRows: x").to(at::kFloat);
    at::Tensor offsets = arg(info, 1, "encoderFirstRows: offsets").to(at::kLong);
    const int64_t heads = info[2].As<Napi::Number>().Int64Value();
    at::Tensor g = arg(info, 3, "encoderFirstRows: gradOut").to(at::kFloat);
    at::manual_seed(info[4].As<Napi::Number>().Int64Value());
    model::EncoderLayer layer(x.size(1), heads, 2);
    const int64_t B = offsets.size(0) - 1;
    auto run = [&](bool first_only) {
      at::Tensor xi = x.clone().requires_grad_(true);
      for (auto& p : layer->parameters()) p.mutable_grad() = at::Tensor();
      at::Tensor out = first_only ? layer->forward_first(xi, offsets)
                                  : layer->forward(xi, offsets).index_select(0, offsets.slice(0, 0, B));
      (out * g).sum().backward();
      Napi::Object o = Napi::Object::New(env);
      o.Set("out", TensorObject::Wrap(env, out.detach().contiguous()));
      o.Set("gradX", TensorObject::Wrap(env, xi.grad().contiguous()));
      std::vector<at::Tensor> grads;
      for (auto& p : layer->parameters())
        grads.push_back(p.grad().defined() ? p.grad().reshape({-1}) : at::zeros({p.numel()}));
      o.Set("gradParams", TensorObject::Wrap(env, at::cat(grads)));
      return o;
    };
    Napi::Object r = Napi::Object::New(env);
    r.Set("full", run(false));
    r.Set("first", run(true));
    return r;
  });
}

}  // namespace

void init_nn_binding(Napi::Env env, Napi::Object exports) {
  Napi::Object nn = Napi::Object::New(env);
  nn.Set("tokenMix", Napi::Function::New<TokenMix>(env, "tokenMix"));
  nn.Set("perTokenFfn", Napi::Function::New<PerTokenFfn>(env, "perTokenFfn"));
  nn.Set("sqdcLoss", Napi::Function::New<SqdcLoss>(env, "sqdcLoss"));
  nn.Set("bceLoss", Napi::Function::New<BceLoss>(env, "bceLoss"));
  nn.Set("similarityFeatures", Napi::Function::New<SimilarityFeatures>(env, "similarityFeatures"));
  nn.Set("sparseUpdate", Napi::Function::New<SparseUpdate>(env, "sparseUpdate"));
  nn.Set("adamwSteps", Napi::Function::New<AdamwSteps>(env, "adamwSteps"));
  nn.Set("encoderFirstRows", Napi::Function::New<EncoderFirstRows>(env, "encoderFirstRows"));
  exports.Set("nn", nn);
}

}  // namespace lemur
