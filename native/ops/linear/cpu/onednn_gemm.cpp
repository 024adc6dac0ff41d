// oneDNN's sgemm, found at run time in the libdnnl that LibTorch links (no oneDNN headers or
// link of our own: a LibTorch without it, or one that hides its symbols, falls back to ATen).
#include <ATen/ATen.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ops/linear/linear.h"
#include "ops/linear/token_linear.h"

namespace lemur::ops {
namespace {

// dnnl_status_t dnnl_sgemm(char transa, char transb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K,
//     float alpha, const float* A, dnnl_dim_t lda, const float* B, dnnl_dim_t ldb, float beta,
//     float* C, dnnl_dim_t ldc): oneDNN's C API since 1.0 (row-major); dnnl_success is 0.
using SgemmFn = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                        float, float*, int64_t);
struct DnnlVersion {
  int major, minor, patch;
  const char* hash;
  unsigned cpu_runtime, gpu_runtime;
};
using VersionFn = const DnnlVersion* (*)();

struct OneDnn {
  SgemmFn sgemm = nullptr;
  std::string name = "BLAS";
  OneDnn() {
    const char* choice = std::getenv("LEMUR_CPU_GEMM");
    if (choice && (std::strcmp(choice, "blas") == 0 || std::strcmp(choice, "aten") == 0)) return;
    // Only a libdnnl already in the process (LibTorch's dependency): loading a second oneDNN
    // beside one linked statically into LibTorch could bring a second OpenMP runtime.
    void* lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_NOLOAD);
    if (!lib) lib = dlopen("libdnnl.so.3", RTLD_NOW | RTLD_NOLOAD);
    if (!lib) return;
    sgemm = reinterpret_cast<SgemmFn>(dlsym(lib, "dnnl_sgemm"));
    if (!sgemm) return;
    name = "oneDNN";
    if (auto version = reinterpret_cast<VersionFn>(dlsym(lib, "dnnl_version"))) {
      const DnnlVersion* v = version();
      char buf[48];
      std::snprintf(buf, sizeof buf, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
      name = buf;
    }
  }
};

const OneDnn& onednn() {
  static OneDnn o;
  return o;
}

}  // namespace

bool onednn_gemm_enabled() { return onednn().sgemm != nullptr; }
std::string cpu_gemm_name() { return onednn().name; }

namespace cpu {

bool onednn_sgemm(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const SgemmFn f = onednn().sgemm;
  return f && f(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0;
}

namespace {
// oneDNN reads a row of K elements at A + i*lda: lda must cover a row and be positive even
// when there are no rows.
int64_t leading(const at::Tensor& t) { return std::max<int64_t>(t.stride(0), std::max<int64_t>(t.size(1), 1)); }
}  // namespace

at::Tensor linear_forward_kernel(const at::Tensor& x2, const at::Tensor& weight, const at::Tensor& bias) {
  const int64_t M = x2.size(0), K = x2.size(1), N = weight.size(0);
  at::Tensor y;
  float beta = 0.f;
  if (bias.defined()) {
    y = bias.expand({M, N}).contiguous();  // C starts as the bias: beta = 1 adds the product
    beta = 1.f;
  } else {
    y = at::empty({M, N}, x2.options());
  }
  if (M == 0 || N == 0) return y;
  if (K == 0) return bias.defined() ? y : y.zero_();
  if (!onednn_sgemm('N', 'T', M, N, K, 1.f, x2.data_ptr<float>(), leading(x2), weight.data_ptr<float>(), K, beta,
                    y.data_ptr<float>(), N))
    return at::linear(x2, weight, bias);
  return y;
}

at::Tensor linear_grad_input_kernel(const at::Tensor& grad2, const at::Tensor& weight) {
  const int64_t M = grad2.size(0), N = grad2.size(1), K = weight.size(1);
  at::Tensor dx = at::empty({M, K}, grad2.options());
  if (M == 0 || K == 0) return dx;
  if (N == 0) return dx.zero_();
  if (!onednn_sgemm('N', 'N', M, K, N, 1.f, grad2.data_ptr<float>(), leading(grad2), weight.data_ptr<float>(), K, 0.f,
                    dx.data_ptr<float>(), K))
    return at::mm(grad2, weight);
  return dx;
}

at::Tensor linear_grad_weight_kernel(const at::Tensor& grad2, const at::Tensor& x2) {
  const int64_t M = grad2.size(0), N = grad2.size(1), K = x2.size(1);
  at::Tensor dw = at::empty({N, K}, grad2.options());
  if (N == 0 || K == 0) return dw;
  if (M == 0) return dw.zero_();
  if (!onednn_sgemm('T', 'N', N, K, M, 1.f, grad2.data_ptr<float>(), leading(grad2), x2.data_ptr<float>(), leading(x2),
                    0.f, dw.data_ptr<float>(), K))
    return at::mm(grad2.t(), x2);
  return dw;
}

// ---- token_linear: token t's rows of x [B, T, C] are a matrix at x + t*C with leading
// dimension T*C (likewise y and the gradients), so each token's product is one sgemm in place.

namespace {
// How the weight [T, C, D] is stored per token: as [C][D] rows ('N') or, for a transposed
// view, as [D][C] rows ('T'); ld is the row stride of that storage.
struct TokenWeight {
  char trans;
  int64_t ld, token_stride;
};
TokenWeight token_weight(const at::Tensor& w) {
  const int64_t D = w.size(2);
  if (w.stride(2) == 1 && w.stride(1) >= std::max<int64_t>(D, 1)) return {'N', w.stride(1), w.stride(0)};
  return {'T', w.stride(2), w.stride(0)};  // token_linear_layout: w.stride(1) == 1, w.stride(2) >= C
}
}  // namespace

bool token_linear_layout(const at::Tensor& w) {
  const int64_t C = w.size(1), D = w.size(2);
  return (w.stride(2) == 1 && w.stride(1) >= std::max<int64_t>(D, 1)) ||
         (w.stride(1) == 1 && w.stride(2) >= std::max<int64_t>(C, 1));
}

at::Tensor token_linear_forward_kernel(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2), D = weight.size(2);
  at::Tensor y;
  float beta = 0.f;
  if (bias.defined()) {
    y = bias.unsqueeze(0).expand({B, T, D}).contiguous();  // C starts as the bias: beta = 1 adds the product
    beta = 1.f;
  } else {
    y = at::empty({B, T, D}, x.options());
  }
  if (B == 0 || T == 0 || D == 0) return y;
  if (C == 0) return bias.defined() ? y : y.zero_();
  const TokenWeight tw = token_weight(weight);
  const float* xp = x.data_ptr<float>();
  const float* wp = weight.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for (int64_t t = 0; t < T; ++t)
    if (!onednn_sgemm('N', tw.trans, B, D, C, 1.f, xp + t * C, T * C, wp + t * tw.token_stride, tw.ld, beta, yp + t * D,
                      T * D)) {
      at::Tensor r = at::einsum("btc,tcd->btd", {x, weight});
      return bias.defined() ? r + bias : r;
    }
  return y;
}

at::Tensor token_linear_grad_input_kernel(const at::Tensor& grad, const at::Tensor& weight) {
  const int64_t B = grad.size(0), T = grad.size(1), D = grad.size(2), C = weight.size(1);
  at::Tensor dx = at::empty({B, T, C}, grad.options());
  if (B == 0 || T == 0 || C == 0) return dx;
  if (D == 0) return dx.zero_();
  const TokenWeight tw = token_weight(weight);
  const float* gp = grad.data_ptr<float>();
  const float* wp = weight.data_ptr<float>();
  float* dp = dx.data_ptr<float>();
  for (int64_t t = 0; t < T; ++t)  // d x_t = d y_t W_t^T
    if (!onednn_sgemm('N', tw.trans == 'N' ? 'T' : 'N', B, C, D, 1.f, gp + t * D, T * D, wp + t * tw.token_stride,
                      tw.ld, 0.f, dp + t * C, T * C))
      return at::einsum("btd,tcd->btc", {grad, weight});
  return dx;
}

at::Tensor token_linear_grad_weight_kernel(const at::Tensor& grad, const at::Tensor& x) {
  const int64_t B = grad.size(0), T = grad.size(1), D = grad.size(2), C = x.size(2);
  at::Tensor dw = at::empty({T, C, D}, grad.options());
  if (T == 0 || C == 0 || D == 0) return dw;
  if (B == 0) return dw.zero_();
  const float* gp = grad.data_ptr<float>();
  const float* xp = x.data_ptr<float>();
  float* wp = dw.data_ptr<float>();
  for (int64_t t = 0; t < T; ++t)  // d W_t = x_t^T d y_t
    if (!onednn_sgemm('T', 'N', C, D, B, 1.f, xp + t * C, T * C, gp + t * D, T * D, 0.f, wp + t * C * D, D))
      return at::einsum("btc,btd->tcd", {x, grad});
  return dw;
}

}  // namespace cpu
}  // namespace lemur::ops
