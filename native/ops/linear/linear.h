// linear: y = x W^T + b over the last dimension of x, as at::linear (x [..., in], weight
// [out, in], bias [out] or undefined), differentiable in x, weight and bias.
// On CPU float32 the three products of a step (forward, d x, d W) go to oneDNN's sgemm, the
// GEMM of the oneDNN that LibTorch itself links (libdnnl): its kernels are JIT-compiled for
// the CPU it runs on (AVX-512 where there is one), where ATen's products go to whatever
// BLAS the system provides (Debian: OpenBLAS, the reference BLAS when no optimized one is
// installed, or OpenBLAS pinned to older kernels by OPENBLAS_CORETYPE). Elsewhere (CUDA,
// other dtypes, a LibTorch without a loaded libdnnl such as PyTorch's wheels, or
// LEMUR_CPU_GEMM=blas) it is at::linear.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace lemur::ops {

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// Whether linear() takes the oneDNN path for CPU float32 (libdnnl found in the process and
// not switched off by LEMUR_CPU_GEMM=blas).
bool onednn_gemm_enabled();
// What CPU float32 products of linear() run on, for `lemur info`: "oneDNN 2.6.3" or "BLAS".
std::string cpu_gemm_name();

namespace cpu {
// Row-major C[M,N] = alpha op(A) op(B) + beta C (op: 'N' or 'T'), as dnnl_sgemm; false when
// oneDNN is unavailable or refused (the caller falls back to ATen).
bool onednn_sgemm(char transa, char transb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// The forward and the two input gradients on CPU float32 by onednn_sgemm. x2 [M, in] with
// unit stride in its last dimension; weight [out, in] contiguous.
at::Tensor linear_forward_kernel(const at::Tensor& x2, const at::Tensor& weight, const at::Tensor& bias);
at::Tensor linear_grad_input_kernel(const at::Tensor& grad2, const at::Tensor& weight);
at::Tensor linear_grad_weight_kernel(const at::Tensor& grad2, const at::Tensor& x2);
}  // namespace cpu

}  // namespace lemur::ops
