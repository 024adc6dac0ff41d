// Fused LayerNorm rows on AVX2 + FMA (rows of N % 8 == 0 floats): forward one row at a time
// (sum, then centered sum of squares from the row in cache, then the affine output), backward
// likewise, the weight and bias gradients summed per fixed chunk of rows and the chunks added
// in order, so results do not depend on the thread count.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>

#include "ops/common/simd_math.h"
#include "ops/layer_norm/layer_norm.h"

#ifdef LEMUR_HAVE_SIMD_MATH
#define LEMUR_LAYER_NORM_AVX2 1
#endif

namespace lemur::ops::cpu {

namespace {
constexpr int64_t kChunkRows = 256;  // rows per task and per partial weight/bias gradient
}

#ifdef LEMUR_LAYER_NORM_AVX2
namespace {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
using simd::hsum8;

void forward_rows(const float* x, const float* w, const float* b, float* y, float* mean, float* rstd, int64_t r0,
                  int64_t r1, int64_t n, float eps) {
  const float inv_n = 1.0f / static_cast<float>(n);
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    __m256 s = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; j += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(xr + j));
    const float mu = hsum8(s) * inv_n;
    const __m256 vmu = _mm256_set1_ps(mu);
    __m256 q = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; j += 8) {
      const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(xr + j), vmu);
      q = _mm256_fmadd_ps(d, d, q);
    }
    const float rs = 1.0f / std::sqrt(hsum8(q) * inv_n + eps);
    const __m256 vrs = _mm256_set1_ps(rs);
    for (int64_t j = 0; j < n; j += 8) {
      const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + j), vmu), vrs);
      _mm256_storeu_ps(yr + j, _mm256_fmadd_ps(xh, _mm256_loadu_ps(w + j), _mm256_loadu_ps(b + j)));
    }
    mean[r] = mu;
    rstd[r] = rs;
  }
}

// dx = rstd (g w - mean(g w) - xh mean(g w xh)); dw += g xh; db += g (into dw, db).
void backward_rows(const float* g, const float* x, const float* w, const float* mean, const float* rstd, float* dx,
                   float* dw, float* db, int64_t r0, int64_t r1, int64_t n) {
  const float inv_n = 1.0f / static_cast<float>(n);
  for (int64_t r = r0; r < r1; ++r) {
    const float *gr = g + r * n, *xr = x + r * n;
    float* dxr = dx + r * n;
    const __m256 vmu = _mm256_set1_ps(mean[r]), vrs = _mm256_set1_ps(rstd[r]);
    __m256 a = _mm256_setzero_ps(), c = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; j += 8) {
      const __m256 gj = _mm256_loadu_ps(gr + j);
      const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + j), vmu), vrs);
      const __m256 gw = _mm256_mul_ps(gj, _mm256_loadu_ps(w + j));
      a = _mm256_add_ps(a, gw);
      c = _mm256_fmadd_ps(gw, xh, c);
      _mm256_storeu_ps(dw + j, _mm256_fmadd_ps(gj, xh, _mm256_loadu_ps(dw + j)));
      _mm256_storeu_ps(db + j, _mm256_add_ps(gj, _mm256_loadu_ps(db + j)));
    }
    const __m256 va = _mm256_set1_ps(hsum8(a) * inv_n), vc = _mm256_set1_ps(hsum8(c) * inv_n);
    for (int64_t j = 0; j < n; j += 8) {
      const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + j), vmu), vrs);
      const __m256 gw = _mm256_mul_ps(_mm256_loadu_ps(gr + j), _mm256_loadu_ps(w + j));
      _mm256_storeu_ps(dxr + j, _mm256_mul_ps(vrs, _mm256_sub_ps(_mm256_sub_ps(gw, va), _mm256_mul_ps(xh, vc))));
    }
  }
}
#pragma GCC pop_options
}  // namespace
#endif

bool layer_norm_fused(int64_t n) {
#ifdef LEMUR_LAYER_NORM_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return avx2 && n > 0 && n % 8 == 0;
#else
  (void)n;
  return false;
#endif
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm_forward_kernel(const at::Tensor& x2, const at::Tensor& weight,
                                                                          const at::Tensor& bias, double eps) {
  const int64_t m = x2.size(0), n = x2.size(1);
  at::Tensor y = at::empty_like(x2), mean = at::empty({m}, x2.options()), rstd = at::empty({m}, x2.options());
#ifdef LEMUR_LAYER_NORM_AVX2
  const float *xp = x2.data_ptr<float>(), *wp = weight.data_ptr<float>(), *bp = bias.data_ptr<float>();
  float *yp = y.data_ptr<float>(), *mp = mean.data_ptr<float>(), *rp = rstd.data_ptr<float>();
  at::parallel_for(0, m, kChunkRows, [&](int64_t r0, int64_t r1) {
    forward_rows(xp, wp, bp, yp, mp, rp, r0, r1, n, static_cast<float>(eps));
  });
#endif
  return {y, mean, rstd};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> layer_norm_backward_kernel(const at::Tensor& grad2, const at::Tensor& x2,
                                                                           const at::Tensor& weight,
                                                                           const at::Tensor& mean,
                                                                           const at::Tensor& rstd) {
  const int64_t m = x2.size(0), n = x2.size(1), chunks = (m + kChunkRows - 1) / kChunkRows;
  at::Tensor dx = at::empty_like(x2);
  at::Tensor partial = at::zeros({std::max<int64_t>(chunks, 1), 2, n}, x2.options());  // per chunk: dw, db
#ifdef LEMUR_LAYER_NORM_AVX2
  const float *gp = grad2.data_ptr<float>(), *xp = x2.data_ptr<float>(), *wp = weight.data_ptr<float>();
  const float *mp = mean.data_ptr<float>(), *rp = rstd.data_ptr<float>();
  float *dxp = dx.data_ptr<float>(), *pp = partial.data_ptr<float>();
  at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      backward_rows(gp, xp, wp, mp, rp, dxp, pp + c * 2 * n, pp + c * 2 * n + n, c * kChunkRows,
                    std::min(m, (c + 1) * kChunkRows), n);
  });
  for (int64_t c = 1; c < chunks; ++c) {  // in order: the same sums at any thread count
    float* acc = pp;
    const float* part = pp + c * 2 * n;
    for (int64_t j = 0; j < 2 * n; ++j) acc[j] += part[j];
  }
#endif
  return {dx, partial[0][0].clone(), partial[0][1].clone()};
}

}  // namespace lemur::ops::cpu
