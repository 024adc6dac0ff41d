// Fused GELU on AVX-512F: forward x Phi(x), backward g (Phi(x) + x phi(x)), one exp per
// element (exp(-x^2 / 2) is both erf's factor and the density), four independent vectors per
// iteration (erf's division and exp are long dependency chains), the tail under a lane mask,
// in chunks over threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "ops/common/simd_math.h"
#include "ops/gelu/gelu.h"

namespace lemur::ops::cpu {

namespace {
constexpr int64_t kGrain = 16384;  // elements per task: a few microseconds of work
}

#ifdef LEMUR_HAVE_SIMD_MATH
namespace {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's false alarm, see simd_math.h
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")

inline __m512 flip(__m512 v, __m512i bits) {
  return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), bits));
}

// Phi(x) = 0.5 (1 + erf(x / sqrt 2)) with erf as ATen's Vectorized<float>::erf
// (Abramowitz-Stegun 7.1.26), and e = exp(-x^2 / 2) for the density.
inline __m512 cdf16(__m512 x, __m512& e) {
  const __m512i sign_bit = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(z), sign_bit);
  const __m512 a = _mm512_abs_ps(z);
  const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), a, one));
  __m512 r = _mm512_fmadd_ps(_mm512_set1_ps(1.061405429f), t, _mm512_set1_ps(-1.453152027f));
  r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(1.421413741f));
  r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-0.284496736f));
  r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(0.254829592f));
  e = simd::exp16(flip(_mm512_mul_ps(z, z), sign_bit));
  const __m512 erf_abs = _mm512_fnmadd_ps(_mm512_mul_ps(e, t), r, one);  // 1 - t r e
  return _mm512_mul_ps(_mm512_set1_ps(0.5f), _mm512_add_ps(one, flip(erf_abs, sign)));
}

inline __m512 forward16(__m512 x) {
  __m512 e;
  return _mm512_mul_ps(x, cdf16(x, e));
}

inline __m512 backward16(__m512 g, __m512 x) {
  __m512 e;
  const __m512 cdf = cdf16(x, e);
  const __m512 pdf = _mm512_mul_ps(_mm512_set1_ps(0.39894228040143268f), e);  // exp(-x^2/2) / sqrt(2 pi)
  return _mm512_mul_ps(g, _mm512_fmadd_ps(x, pdf, cdf));
}

inline __mmask16 tail_mask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }

void forward_range(const float* x, float* y, int64_t i0, int64_t i1) {
  int64_t i = i0;
  for (; i + 64 <= i1; i += 64) {
    const __m512 a = forward16(_mm512_loadu_ps(x + i)), b = forward16(_mm512_loadu_ps(x + i + 16)),
                 c = forward16(_mm512_loadu_ps(x + i + 32)), d = forward16(_mm512_loadu_ps(x + i + 48));
    _mm512_storeu_ps(y + i, a);
    _mm512_storeu_ps(y + i + 16, b);
    _mm512_storeu_ps(y + i + 32, c);
    _mm512_storeu_ps(y + i + 48, d);
  }
  for (; i + 16 <= i1; i += 16) _mm512_storeu_ps(y + i, forward16(_mm512_loadu_ps(x + i)));
  if (i < i1) {
    const __mmask16 m = tail_mask(i1 - i);
    _mm512_mask_storeu_ps(y + i, m, forward16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

void backward_range(const float* g, const float* x, float* dx, int64_t i0, int64_t i1) {
  int64_t i = i0;
  for (; i + 64 <= i1; i += 64) {
    const __m512 a = backward16(_mm512_loadu_ps(g + i), _mm512_loadu_ps(x + i)),
                 b = backward16(_mm512_loadu_ps(g + i + 16), _mm512_loadu_ps(x + i + 16)),
                 c = backward16(_mm512_loadu_ps(g + i + 32), _mm512_loadu_ps(x + i + 32)),
                 d = backward16(_mm512_loadu_ps(g + i + 48), _mm512_loadu_ps(x + i + 48));
    _mm512_storeu_ps(dx + i, a);
    _mm512_storeu_ps(dx + i + 16, b);
    _mm512_storeu_ps(dx + i + 32, c);
    _mm512_storeu_ps(dx + i + 48, d);
  }
  for (; i + 16 <= i1; i += 16) _mm512_storeu_ps(dx + i, backward16(_mm512_loadu_ps(g + i), _mm512_loadu_ps(x + i)));
  if (i < i1) {
    const __mmask16 m = tail_mask(i1 - i);
    _mm512_mask_storeu_ps(dx + i, m, backward16(_mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, x + i)));
  }
}

#pragma GCC pop_options
#pragma GCC diagnostic pop
}  // namespace
#endif

bool gelu_fused() {
#ifdef LEMUR_HAVE_SIMD_MATH
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  return avx512;
#else
  return false;
#endif
}

at::Tensor gelu_forward_kernel(const at::Tensor& x) {
  at::Tensor y = at::empty_like(x, at::MemoryFormat::Contiguous);
#ifdef LEMUR_HAVE_SIMD_MATH
  const float* xp = x.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, x.numel(), kGrain, [&](int64_t i0, int64_t i1) { forward_range(xp, yp, i0, i1); });
#endif
  return y;
}

at::Tensor gelu_backward_kernel(const at::Tensor& grad, const at::Tensor& x) {
  at::Tensor dx = at::empty_like(x, at::MemoryFormat::Contiguous);
#ifdef LEMUR_HAVE_SIMD_MATH
  const float *gp = grad.data_ptr<float>(), *xp = x.data_ptr<float>();
  float* dp = dx.data_ptr<float>();
  at::parallel_for(0, x.numel(), kGrain, [&](int64_t i0, int64_t i1) { backward_range(gp, xp, dp, i0, i1); });
#endif
  return dx;
}

}  // namespace lemur::ops::cpu
