// bench.*: timed native entry points for bench/kernels.mjs. Each builds its inputs on the
// device, runs the lemur op and the libtorch baselines `iters` times after `warmup` runs,
// synchronizes, and returns milliseconds per run. Synchronous (blocks the JS thread).
#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <functional>

#include "bindings/bindings.h"
#include "core/js_error.h"
#include "ops/expand_rows/expand_rows.h"
#include "ops/linear/linear.h"
#include "ops/memory_bank/memory_bank_ops.h"
#include "ops/ragged_attention/ragged_attention.h"

#ifdef LEMUR_WITH_CUDA
#include <torch/cuda.h>
#endif

namespace lemur {
namespace {

// ---- options ---------------------------------------------------------------------------------

struct Opts {
  Napi::Object o;
  int64_t integer(const char* key, int64_t fallback) const {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return fallback;
    if (!v.IsNumber()) throw UserError(std::string("bench: ") + key + " must be a number");
    return v.As<Napi::Number>().Int64Value();
  }
  std::string string(const char* key, const std::string& fallback) const {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return fallback;
    if (!v.IsString()) throw UserError(std::string("bench: ") + key + " must be a string");
    return v.As<Napi::String>().Utf8Value();
  }
  bool boolean(const char* key, bool fallback) const {
    Napi::Value v = o.Get(key);
    return v.IsUndefined() ? fallback : v.ToBoolean().Value();
  }
};

Opts opts_of(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject()) throw UserError("bench: expected an options object");
  return {info[0].As<Napi::Object>()};
}

at::ScalarType dtype_of_name(const std::string& s) {
  if (s == "float32") return at::kFloat;
  if (s == "bfloat16") return at::kBFloat16;
  if (s == "float16") return at::kHalf;
  throw UserError("bench: dtype must be float32, bfloat16 or float16, got " + s);
}

// ---- timing ----------------------------------------------------------------------------------

void sync(const at::Device& device) {
#ifdef LEMUR_WITH_CUDA
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
#endif
}

double time_ms(const at::Device& device, int64_t warmup, int64_t iters, const std::function<void()>& fn) {
  for (int64_t i = 0; i < warmup; ++i) fn();
  sync(device);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < iters; ++i) fn();
  sync(device);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
         static_cast<double>(iters);
}

// copy({ device, bytes, iters }) -> { ms, bytesPerSec }: dst.copy_(src) of `bytes` bytes; the
// bandwidth counts the read and the write (2 * bytes per copy).
Napi::Value Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    Opts o = opts_of(info);
    const at::Device device(o.string("device", "cpu"));
    const int64_t bytes = o.integer("bytes", int64_t{1} << 28);
    at::Tensor src = at::ones({bytes / 4}, at::TensorOptions().dtype(at::kFloat).device(device));
    at::Tensor dst = at::empty_like(src);
    const double ms = time_ms(device, 2, o.integer("iters", 10), [&] { dst.copy_(src); });
    Napi::Object r = Napi::Object::New(env);
    r.Set("ms", ms);
    r.Set("bytesPerSec", 2.0 * static_cast<double>(src.numel() * 4) / (ms * 1e-3));
    return r;
  });
}

// ---- attention -------------------------------------------------------------------------------

// attention({ device, dtype, batch, nq, maxLen, heads, dim, iters, warmup, seed, baselines })
//   -> { totalKeys, paddedKeys, validBytesFwd, validBytesFwdBwd,
//        lemurFwd, lemurFwdBwd, lemurOpFwd, compositeFwd, compositeFwdBwd, sdpaFwd?, sdpaFwdBwd? }
// Key lengths are uniform in [maxLen / 8, maxLen]. lemurFwd / lemurFwdBwd time the kernels on
// pre-checked inputs; lemurOpFwd times ragged_attention() as the model calls it (argument
// checks and host offsets included). Baselines run on the padded batch [B, H, Lmax, D] with a
// key-padding mask (padding is done once, outside the timing).
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    Opts o = opts_of(info);
    const at::Device device(o.string("device", "cpu"));
    const at::ScalarType dtype = dtype_of_name(o.string("dtype", "float32"));
    const int64_t B = o.integer("batch", 8), nq = o.integer("nq", 16), L = o.integer("maxLen", 256);
    const int64_t H = o.integer("heads", 8), D = o.integer("dim", 64);
    const int64_t iters = o.integer("iters", 10), warmup = o.integer("warmup", 2);
    const bool baselines = o.boolean("baselines", true);
    at::manual_seed(o.integer("seed", 1));
    const auto opt = at::TensorOptions().dtype(dtype).device(device);
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));

    at::Tensor lens = at::randint(L / 8 < 1 ? 1 : L / 8, L + 1, {B}, at::TensorOptions().dtype(at::kLong));
    at::Tensor k_off = at::zeros({B + 1}, at::kLong);
    k_off.slice(0, 1).copy_(lens.cumsum(0));
    at::Tensor q_off = at::arange(0, (B + 1) * nq, nq, at::kLong);
    const int64_t tk = k_off[B].item<int64_t>(), tq = B * nq, lmax = lens.max().item<int64_t>();
    at::Tensor q = at::randn({tq, H, D}, opt), k = at::randn({tk, H, D}, opt), v = at::randn({tk, H, D}, opt);
    at::Tensor g = at::randn({tq, H, D}, opt);

    Napi::Object r = Napi::Object::New(env);
    r.Set("totalKeys", static_cast<double>(tk));
    r.Set("paddedKeys", static_cast<double>(B * lmax));
    const double elem = static_cast<double>(q.element_size());
    const double qb = tq * H * D * elem, kb = tk * H * D * elem;
    r.Set("validBytesFwd", 2 * qb + 2 * kb + tq * H * 4.0);            // q, k, v, out, lse
    r.Set("validBytesFwdBwd", 2 * qb + 2 * kb + tq * H * 4.0 +         // forward, then
                                  4 * qb + 4 * kb + tq * H * 4.0);     // q, out, dO, k, v, lse in; dq, dk, dv out

    // lemur, kernels only (inputs checked once) and through the op.
    {
      at::NoGradGuard no_grad;
      ops::RaggedAttentionInputs in = ops::ragged_attention_check(q, k, v, q_off, k_off, c10::nullopt);
      r.Set("lemurFwd", time_ms(device, warmup, iters, [&] { (void)ops::ragged_attention_forward(in, scale); }));
      auto fwd = ops::ragged_attention_forward(in, scale);
      const double bwd = time_ms(device, warmup, iters, [&] {
        (void)ops::ragged_attention_backward(in, std::get<0>(fwd), std::get<1>(fwd), g, scale);
      });
      r.Set("lemurFwdBwd", r.Get("lemurFwd").As<Napi::Number>().DoubleValue() + bwd);
      r.Set("lemurOpFwd", time_ms(device, warmup, iters, [&] {
              (void)ops::ragged_attention(q, k, v, q_off, k_off, c10::nullopt, scale);
            }));
    }
    if (!baselines) return r;

    // The padded batch: [B, H, nq, D] queries, [B, H, Lmax, D] keys/values, mask [B, 1, 1, Lmax].
    at::Tensor qp = q.view({B, nq, H, D}).transpose(1, 2).contiguous();
    at::Tensor kp = at::zeros({B, lmax, H, D}, opt), vp = at::zeros({B, lmax, H, D}, opt);
    at::Tensor mask = at::zeros({B, lmax}, at::TensorOptions().dtype(at::kBool));
    {
      const int64_t* ko = k_off.data_ptr<int64_t>();
      for (int64_t b = 0; b < B; ++b) {
        const int64_t n = ko[b + 1] - ko[b];
        kp[b].slice(0, 0, n).copy_(k.slice(0, ko[b], ko[b + 1]));
        vp[b].slice(0, 0, n).copy_(v.slice(0, ko[b], ko[b + 1]));
        mask[b].slice(0, 0, n).fill_(true);
      }
    }
    kp = kp.transpose(1, 2).contiguous();
    vp = vp.transpose(1, 2).contiguous();
    mask = mask.view({B, 1, 1, lmax}).to(device);
    at::Tensor gp = g.view({B, nq, H, D}).transpose(1, 2).contiguous();

    auto composite = [&](const at::Tensor& qq, const at::Tensor& kk, const at::Tensor& vv) {
      at::Tensor s = at::matmul(qq, kk.transpose(-2, -1)) * scale;
      s = s.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
      return at::matmul(at::softmax(s, -1), vv);
    };
    auto fwd_bwd = [&](const std::function<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&)>& f) {
      at::Tensor lq = qp.detach().requires_grad_(true), lk = kp.detach().requires_grad_(true),
                 lv = vp.detach().requires_grad_(true);
      return time_ms(device, warmup, iters, [&] {
        at::Tensor out = f(lq, lk, lv);
        auto grads = torch::autograd::grad({out}, {lq, lk, lv}, {gp});
        (void)grads;
      });
    };
    {
      at::NoGradGuard no_grad;
      r.Set("compositeFwd", time_ms(device, warmup, iters, [&] { (void)composite(qp, kp, vp); }));
    }
    r.Set("compositeFwdBwd", fwd_bwd(composite));
#if TORCH_VERSION_MAJOR >= 2
    auto sdpa = [&](const at::Tensor& qq, const at::Tensor& kk, const at::Tensor& vv) {
      return at::scaled_dot_product_attention(qq, kk, vv, mask, 0.0, false);
    };
    {
      at::NoGradGuard no_grad;
      r.Set("sdpaFwd", time_ms(device, warmup, iters, [&] { (void)sdpa(qp, kp, vp); }));
    }
    r.Set("sdpaFwdBwd", fwd_bwd(sdpa));
#endif
    return r;
  });
}

// ---- memory bank -----------------------------------------------------------------------------

// ids of `dist` ("uniform" or "zipf": P(rank k) ~ 1 / k, ranks scattered over the table by a
// multiplicative permutation) in [0, n).
at::Tensor make_ids(int64_t m, int64_t n, const std::string& dist) {
  if (dist == "uniform") return at::randint(0, n, {m}, at::TensorOptions().dtype(at::kLong));
  if (dist != "zipf") throw UserError("bench: dist must be uniform or zipf, got " + dist);
  at::Tensor u = at::rand({m}, at::TensorOptions().dtype(at::kDouble));
  at::Tensor rank = (at::exp(u * std::log(static_cast<double>(n) + 1.0)) - 1.0).floor().clamp(0, n - 1).to(at::kLong);
  return (rank * 1000003) % n;
}

// gather({ device, dtype, rows, width, ids, dist, iters, warmup })
//   -> { lemur, lemurOp, indexSelect, validBytes, uniqueIds }
// lemur: the gather kernel on checked ids; lemurOp: bank_gather() with its id check;
// indexSelect: bank.index_select(0, ids). validBytes: rows read + rows written + ids + flags.
Napi::Value Gather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    Opts o = opts_of(info);
    const at::Device device(o.string("device", "cpu"));
    const at::ScalarType dtype = dtype_of_name(o.string("dtype", "float32"));
    const int64_t n = o.integer("rows", 100000), e = o.integer("width", 128), m = o.integer("ids", 10000);
    const int64_t iters = o.integer("iters", 10), warmup = o.integer("warmup", 2);
    at::manual_seed(o.integer("seed", 1));
    at::NoGradGuard no_grad;
    at::Tensor bank = at::randn({n, e}, at::TensorOptions().dtype(dtype).device(device));
    at::Tensor written = at::ones({n}, at::TensorOptions().dtype(at::kByte).device(device));
    at::Tensor ids = make_ids(m, n, o.string("dist", "uniform")).to(device);
    Napi::Object r = Napi::Object::New(env);
    r.Set("lemur", time_ms(device, warmup, iters, [&] { (void)ops::bank_gather_unchecked(bank, written, ids); }));
    r.Set("lemurOp", time_ms(device, warmup, iters, [&] { (void)ops::bank_gather(bank, written, ids); }));
    r.Set("indexSelect", time_ms(device, warmup, iters, [&] { (void)bank.index_select(0, ids); }));
    r.Set("validBytes", static_cast<double>(2 * m * e * bank.element_size() + m * 8 + m * 2));
    r.Set("uniqueIds", static_cast<double>(std::get<0>(at::_unique2(ids.cpu())).numel()));
    return r;
  });
}

// gradScatter({ device, dtype, rows, width, ids, dist, iters, warmup })
//   -> { lemur, indexAdd, validBytes, uniqueIds }
// The backward of expand_rows: grad [M, E] summed into the U unique rows of ids (deduplicated
// outside the timing). lemur: segment_sum_rows (deterministic); indexAdd:
// zeros([U, E]).index_add_(0, inverse, grad) (atomics on CUDA).
Napi::Value GradScatter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    Opts o = opts_of(info);
    const at::Device device(o.string("device", "cpu"));
    const at::ScalarType dtype = dtype_of_name(o.string("dtype", "float32"));
    const int64_t n = o.integer("rows", 100000), e = o.integer("width", 128), m = o.integer("ids", 10000);
    const int64_t iters = o.integer("iters", 10), warmup = o.integer("warmup", 2);
    at::manual_seed(o.integer("seed", 1));
    at::NoGradGuard no_grad;
    at::Tensor ids = make_ids(m, n, o.string("dist", "uniform")).to(device);
    auto [unique, inverse] = ops::dedup_ids(ids);
    const int64_t u = unique.numel();
    at::Tensor grad = at::randn({m, e}, at::TensorOptions().dtype(dtype).device(device));
    Napi::Object r = Napi::Object::New(env);
    r.Set("lemur", time_ms(device, warmup, iters, [&] { (void)ops::segment_sum_rows_unchecked(grad, inverse, u); }));
    r.Set("indexAdd", time_ms(device, warmup, iters, [&] {
            (void)at::zeros({u, e}, grad.options()).index_add_(0, inverse, grad);
          }));
    r.Set("validBytes", static_cast<double>((m + u) * e * grad.element_size() + m * 8));
    r.Set("uniqueIds", static_cast<double>(u));
    return r;
  });
}

}  // namespace

// linear({ rows, in, out, iters }) -> { forwardMs, trainMs, gemm }: ops::linear on CPU float32
// (y = x W^T + b), its forward alone and forward + backward (d x, d W, d b), per run; `gemm`
// names the backend (oneDNN or BLAS, fixed at load by LEMUR_CPU_GEMM).
Napi::Value Linear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    Opts o = opts_of(info);
    const int64_t M = o.integer("rows", 2560), K = o.integer("in", 64), N = o.integer("out", 64), iters = o.integer("iters", 50);
    at::Tensor x = at::randn({M, K}).requires_grad_(true), w = (at::randn({N, K}) / 8).requires_grad_(true),
               b = at::zeros({N}).requires_grad_(true), g = at::randn({M, N});
    const at::Device cpu(at::kCPU);
    double fwd = time_ms(cpu, 3, iters, [&] {
      at::NoGradGuard no_grad;
      ops::linear(x, w, b);
    });
    double train = time_ms(cpu, 3, iters, [&] {
      at::Tensor y = ops::linear(x, w, b);
      torch::autograd::backward({y}, {g});
      x.mutable_grad().reset();
      w.mutable_grad().reset();
      b.mutable_grad().reset();
    });
    Napi::Object r = Napi::Object::New(env);
    r.Set("forwardMs", fwd);
    r.Set("trainMs", train);
    r.Set("gemm", ops::cpu_gemm_name());
    return r;
  });
}

void init_bench_binding(Napi::Env env, Napi::Object exports) {
  Napi::Object bench = Napi::Object::New(env);
  bench.Set("copy", Napi::Function::New<Copy>(env, "copy"));
  bench.Set("attention", Napi::Function::New<Attention>(env, "attention"));
  bench.Set("gather", Napi::Function::New<Gather>(env, "gather"));
  bench.Set("gradScatter", Napi::Function::New<GradScatter>(env, "gradScatter"));
  bench.Set("linear", Napi::Function::New<Linear>(env, "linear"));
  exports.Set("bench", bench);
}

}  // namespace lemur
