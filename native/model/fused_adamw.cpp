#include "model/fused_adamw.h"

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>
#include <type_traits>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define LEMUR_FUSED_ADAMW_AVX2 1
#endif

namespace lemur::model {
namespace {

// The per-element update, in the order of AdamW::step's ops: p *= 1 - lr wd; m = b1 m +
// (1 - b1) g; v = b2 v + (1 - b2) g g; p += -step_size m / (sqrt(v) / sqrt(bc2) + eps).
struct Coefficients {
  float grad_scale, decay, beta1, one_minus_beta1, beta2, one_minus_beta2, sqrt_bc2, eps, neg_step_size;
  bool scale_grad, apply_decay;
};

inline void update_scalar(float* p, const float* g, float* m, float* v, int64_t i0, int64_t n, const Coefficients& c) {
  for (int64_t i = i0; i < n; ++i) {
    const float gi = c.scale_grad ? g[i] * c.grad_scale : g[i];
    const float pi = c.apply_decay ? p[i] * c.decay : p[i];
    const float mi = std::fma(gi, c.one_minus_beta1, m[i] * c.beta1);
    const float vi = v[i] * c.beta2 + c.one_minus_beta2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi + c.neg_step_size * (mi / (std::sqrt(vi) / c.sqrt_bc2 + c.eps));
  }
}

#ifdef LEMUR_FUSED_ADAMW_AVX2
#pragma GCC push_options
#pragma GCC target("avx2,fma")
void update_avx2(float* p, const float* g, float* m, float* v, int64_t n, const Coefficients& c) {
  const __m256 gs = _mm256_set1_ps(c.grad_scale), dec = _mm256_set1_ps(c.decay), b1 = _mm256_set1_ps(c.beta1),
               omb1 = _mm256_set1_ps(c.one_minus_beta1), b2 = _mm256_set1_ps(c.beta2),
               omb2 = _mm256_set1_ps(c.one_minus_beta2), sbc2 = _mm256_set1_ps(c.sqrt_bc2),
               eps = _mm256_set1_ps(c.eps), nss = _mm256_set1_ps(c.neg_step_size);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 gi = _mm256_loadu_ps(g + i);
    if (c.scale_grad) gi = _mm256_mul_ps(gi, gs);
    __m256 pi = _mm256_loadu_ps(p + i);
    if (c.apply_decay) pi = _mm256_mul_ps(pi, dec);
    const __m256 mi = _mm256_fmadd_ps(gi, omb1, _mm256_mul_ps(_mm256_loadu_ps(m + i), b1));
    const __m256 vi = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), b2), _mm256_mul_ps(_mm256_mul_ps(omb2, gi), gi));
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), sbc2), eps);
    _mm256_storeu_ps(m + i, mi);
    _mm256_storeu_ps(v + i, vi);
    _mm256_storeu_ps(p + i, _mm256_add_ps(pi, _mm256_mul_ps(nss, _mm256_div_ps(mi, denom))));
  }
  update_scalar(p, g, m, v, i, n, c);
}

double square_sum_avx2(const float* g, int64_t n) {
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    a0 = _mm256_fmadd_pd(lo, lo, a0);
    a1 = _mm256_fmadd_pd(hi, hi, a1);
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(a0, a1));
  double s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < n; ++i) s += static_cast<double>(g[i]) * g[i];
  return s;
}
#pragma GCC pop_options

bool has_avx2() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return ok;
}
#endif

void update(float* p, const float* g, float* m, float* v, int64_t n, const Coefficients& c) {
#ifdef LEMUR_FUSED_ADAMW_AVX2
  if (has_avx2()) return update_avx2(p, g, m, v, n, c);
#endif
  update_scalar(p, g, m, v, 0, n, c);
}

bool fusable(const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous(); }

// AdamW's state key for a parameter: its TensorImpl address printed to a string in LibTorch
// 1.x (c10::guts::to_string, an ostream <<), the address itself in 2.x.
template <typename Key>
Key state_key(const at::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream os;
    os << p.unsafeGetTensorImpl();
    return os.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

}  // namespace

double square_sum(const at::Tensor& g) {
  if (fusable(g)) {
    const float* x = g.data_ptr<float>();
    const int64_t n = g.numel();
#ifdef LEMUR_FUSED_ADAMW_AVX2
    if (has_avx2()) return square_sum_avx2(x, n);
#endif
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(x[i]) * x[i];
    return s;
  }
  return g.to(at::kDouble).pow(2).sum().item<double>();
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  step_scaled(1.0);
  return loss;
}

void FusedAdamW::step_scaled(double grad_scale) {
  at::NoGradGuard no_grad;
  using Key = typename std::decay_t<decltype(state_)>::key_type;
  for (auto& group : param_groups_) {
    auto& options = static_cast<torch::optim::AdamWOptions&>(group.options());
    const double beta1 = std::get<0>(options.betas()), beta2 = std::get<1>(options.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const at::Tensor& grad = p.grad();
      TORCH_CHECK(!grad.is_sparse(), "AdamW does not support sparse gradients");
      const Key key = state_key<Key>(p);
      auto it = state_.find(key);
      if (it == state_.end()) {
        auto state = std::make_unique<torch::optim::AdamWParamState>();
        state->step(0);
        state->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
        state->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
        if (options.amsgrad()) state->max_exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
        it = state_.emplace(key, std::move(state)).first;
      }
      auto& state = static_cast<torch::optim::AdamWParamState&>(*it->second);
      state.step(state.step() + 1);
      const double bias_correction1 = 1 - std::pow(beta1, state.step());
      const double bias_correction2 = 1 - std::pow(beta2, state.step());
      const double step_size = options.lr() / bias_correction1;
      at::Tensor& exp_avg = state.exp_avg();
      at::Tensor& exp_avg_sq = state.exp_avg_sq();
      if (!options.amsgrad() && fusable(p) && fusable(grad) && fusable(exp_avg) && fusable(exp_avg_sq)) {
        Coefficients c;
        c.grad_scale = static_cast<float>(grad_scale);
        c.scale_grad = grad_scale != 1.0;
        c.apply_decay = options.weight_decay() != 0;
        c.decay = static_cast<float>(1 - options.lr() * options.weight_decay());
        c.beta1 = static_cast<float>(beta1);
        c.one_minus_beta1 = static_cast<float>(1 - beta1);
        c.beta2 = static_cast<float>(beta2);
        c.one_minus_beta2 = static_cast<float>(1 - beta2);
        c.sqrt_bc2 = static_cast<float>(std::sqrt(bias_correction2));
        c.eps = static_cast<float>(options.eps());
        c.neg_step_size = static_cast<float>(-step_size);
        update(p.data_ptr<float>(), grad.data_ptr<float>(), exp_avg.data_ptr<float>(), exp_avg_sq.data_ptr<float>(),
               p.numel(), c);
        continue;
      }
      // AdamW::step's ops, on a scaled copy of the gradient where clipping asks for one.
      const at::Tensor g = grad_scale != 1.0 ? grad * grad_scale : grad;
      if (options.weight_decay() != 0) p.mul_(1 - options.lr() * options.weight_decay());
      exp_avg.mul_(beta1).add_(g, 1 - beta1);
      exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2);
      at::Tensor denom;
      if (options.amsgrad()) {
        at::Tensor& max_exp_avg_sq = state.max_exp_avg_sq();
        at::maximum_out(max_exp_avg_sq, exp_avg_sq, max_exp_avg_sq);
        denom = (max_exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(options.eps());
      } else {
        denom = (exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(options.eps());
      }
      p.addcdiv_(exp_avg, denom, -step_size);
    }
  }
}

}  // namespace lemur::model
