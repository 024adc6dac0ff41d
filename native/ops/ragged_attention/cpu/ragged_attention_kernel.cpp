// CPU reference and implementation of ragged_attention: parallel over (sample, head) pairs;
// each pair streams its own keys (masked ones skipped) through the shared attention core.
// A pair owns its queries' outputs and, in the backward, its keys' gradients: no races.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include "ops/common/cpu_attention.h"
#include "ops/ragged_attention/ragged_attention.h"

namespace lemur::ops::cpu {

namespace {

struct Shape {
  int64_t batch, heads, d, dv;
  int64_t sq, sk, sv;  // row strides of q, k and v (elements): H * D, or more for slices of a packed projection
  const int64_t* qo;
  const int64_t* ko;
  const bool* mask;  // [Tk] or nullptr
};

Shape shape_of(const RaggedAttentionInputs& in) {
  return {in.q_offsets_cpu.numel() - 1, in.q.size(1), in.q.size(2), in.v.size(2),
          in.q.stride(0), in.k.stride(0), in.v.stride(0), in.q_offsets_cpu.data_ptr<int64_t>(), in.k_offsets_cpu.data_ptr<int64_t>(),
          in.key_mask.defined() ? in.key_mask.data_ptr<bool>() : nullptr};
}

// The sample's unmasked keys (global row indices).
void unmasked_keys(const Shape& s, int64_t b, std::vector<int64_t>& keys) {
  keys.clear();
  for (int64_t j = s.ko[b]; j < s.ko[b + 1]; ++j)
    if (!s.mask || s.mask[j]) keys.push_back(j);
}

// Where sample b's unmasked keys are: a run of rows from ko[b] (count), or scattered among
// masked ones (holes: listed in keys).
struct SampleKeys {
  int64_t count = 0;
  bool holes = false;
};
SampleKeys sample_keys(const Shape& s, int64_t b, std::vector<int64_t>& keys) {
  const int64_t n = s.ko[b + 1] - s.ko[b];
  if (!s.mask) return {n, false};
  int64_t on = 0;
  for (int64_t j = s.ko[b]; j < s.ko[b + 1]; ++j) on += s.mask[j] ? 1 : 0;
  if (on == n) return {n, false};
  if (on == 0) return {0, false};
  unmasked_keys(s, b, keys);
  return {on, true};
}

// Head h's rows of the listed keys, packed: kb [n][d], vb [n][dv] (a sample with holes).
void gather_keys(const Shape& s, const float* k, const float* v, const std::vector<int64_t>& keys, int64_t n,
                 int64_t h, std::vector<float>& kb, std::vector<float>& vb) {
  const int64_t d = s.d, dv = s.dv;
  kb.resize(n * d);
  vb.resize(n * dv);
  for (int64_t j = 0; j < n; ++j) {
    std::copy_n(k + keys[j] * s.sk + h * d, d, kb.data() + j * d);
    std::copy_n(v + keys[j] * s.sv + h * dv, dv, vb.data() + j * dv);
  }
}

// float32 on the strided row kernels (cpu_attention::rows_path): q, k, v, out and the
// gradients are read and written where they lie ([T, H, D]: one head's rows at the tensor's
// row stride, H * D or, for slices of a packed q/k/v projection, more); only a sample with
// masked holes among its keys is compacted first.
void forward_rows(const Shape& s, const float* q, const float* k, const float* v, float* o, float* lse, float scale) {
  const int64_t H = s.heads, d = s.d, dv = s.dv;
  at::parallel_for(0, s.batch * H, 1, [&](int64_t w0, int64_t w1) {
    cpu_attention::Workspace<float> ws;
    std::vector<int64_t> keys;
    std::vector<float> kb, vb;
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / H, h = w % H;
      const int64_t q0 = s.qo[b], nq = s.qo[b + 1] - q0;
      if (nq == 0) continue;
      const SampleKeys sk = sample_keys(s, b, keys);
      const float *kp = k + s.ko[b] * s.sk + h * d, *vp = v + s.ko[b] * s.sv + h * dv;
      int64_t ldk = s.sk, ldv = s.sv;
      if (sk.holes) {
        gather_keys(s, k, v, keys, sk.count, h, kb, vb);
        kp = kb.data(), vp = vb.data(), ldk = d, ldv = dv;
      }
      cpu_attention::forward_rows(nq, sk.count, d, dv, scale, q + q0 * s.sq + h * d, s.sq, kp, ldk, vp, ldv,
                                  o + (q0 * H + h) * dv, H * dv, lse + q0 * H + h, H, ws);
    }
  });
}

// dq, dk and dv are written at row strides sdq, sdk, sdv (the inputs' layout, or a packed one).
void backward_rows(const Shape& s, const float* q, const float* k, const float* v, const float* o, const float* go,
                   const float* lse, float* dq, int64_t sdq, float* dk, int64_t sdk, float* dv_p, int64_t sdv,
                   float scale) {
  const int64_t H = s.heads, d = s.d, dv = s.dv;
  auto zero_rows = [](float* p, int64_t rows, int64_t stride, int64_t width) {
    for (int64_t r = 0; r < rows; ++r) std::fill_n(p + r * stride, width, 0.0f);
  };
  at::parallel_for(0, s.batch * H, 1, [&](int64_t w0, int64_t w1) {
    cpu_attention::Workspace<float> ws;
    std::vector<int64_t> keys;
    std::vector<float> kb, vb, dkb, dvb;
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t b = w / H, h = w % H;
      const int64_t q0 = s.qo[b], nq = s.qo[b + 1] - q0, k0 = s.ko[b], nk_all = s.ko[b + 1] - k0;
      float* dqp = dq + q0 * sdq + h * d;
      float* dkp = dk + k0 * sdk + h * d;
      float* dvp = dv_p + k0 * sdv + h * dv;
      const SampleKeys sk = nq > 0 ? sample_keys(s, b, keys) : SampleKeys{};
      if (nq == 0 || sk.count == 0) {  // no attention: zero gradients
        zero_rows(dqp, nq, sdq, d);
        zero_rows(dkp, nk_all, sdk, d);
        zero_rows(dvp, nk_all, sdv, dv);
        continue;
      }
      const float* qp = q + q0 * s.sq + h * d;
      const float* op = o + (q0 * H + h) * dv;
      const float* gp = go + (q0 * H + h) * dv;
      const float* lp = lse + q0 * H + h;
      if (!sk.holes) {
        cpu_attention::backward_rows(nq, sk.count, d, dv, scale, qp, s.sq, k + k0 * s.sk + h * d, s.sk,
                                     v + k0 * s.sv + h * dv, s.sv, op, H * dv, gp, H * dv, lp, H, dqp, sdq, dkp,
                                     sdk, dvp, sdv, ws);
        continue;
      }
      const int64_t n = sk.count;
      gather_keys(s, k, v, keys, n, h, kb, vb);
      dkb.resize(n * d);
      dvb.resize(n * dv);
      cpu_attention::backward_rows(nq, n, d, dv, scale, qp, s.sq, kb.data(), d, vb.data(), dv, op, H * dv, gp, H * dv,
                                   lp, H, dqp, sdq, dkb.data(), d, dvb.data(), dv, ws);
      zero_rows(dkp, nk_all, sdk, d);  // masked keys get none
      zero_rows(dvp, nk_all, sdv, dv);
      for (int64_t j = 0; j < n; ++j) {
        std::copy_n(dkb.data() + j * d, d, dk + keys[j] * sdk + h * d);
        std::copy_n(dvb.data() + j * dv, dv, dv_p + keys[j] * sdv + h * dv);
      }
    }
  });
}

// The generic paths below index q, k and v as dense [T, H, D].
RaggedAttentionInputs dense(const RaggedAttentionInputs& in) {
  RaggedAttentionInputs c = in;
  c.q = in.q.contiguous();
  c.k = in.k.contiguous();
  c.v = in.v.contiguous();
  return c;
}

bool on_rows(const RaggedAttentionInputs& in) {
  return in.q.scalar_type() == at::kFloat && cpu_attention::rows_path(in.q.size(2), in.v.size(2));
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> ragged_attention_forward_kernel(const RaggedAttentionInputs& in_any,
                                                                  double scale) {
  const int64_t tq = in_any.q.size(0);
  if (on_rows(in_any)) {
    const Shape s = shape_of(in_any);
    at::Tensor out = at::empty({tq, s.heads, s.dv}, in_any.q.options());
    at::Tensor lse = at::empty({tq, s.heads}, in_any.q.options());
    forward_rows(s, in_any.q.data_ptr<float>(), in_any.k.data_ptr<float>(), in_any.v.data_ptr<float>(),
                 out.data_ptr<float>(), lse.data_ptr<float>(), static_cast<float>(scale));
    return {out, lse};
  }
  const RaggedAttentionInputs in = dense(in_any);
  const Shape s = shape_of(in);
  at::Tensor out = at::empty({tq, s.heads, s.dv}, in.q.options());
  at::Tensor lse;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, in.q.scalar_type(), "ragged_attention_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    lse = at::empty({tq, s.heads}, in.q.options().dtype(c10::CppTypeToScalarType<acc_t>::value));
    const scalar_t* q = in.q.data_ptr<scalar_t>();
    const scalar_t* k = in.k.data_ptr<scalar_t>();
    const scalar_t* v = in.v.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    acc_t* lse_p = lse.data_ptr<acc_t>();
    at::parallel_for(0, s.batch * s.heads, 1, [&](int64_t w0, int64_t w1) {
      cpu_attention::Workspace<acc_t> ws;
      std::vector<int64_t> keys;
      std::vector<acc_t> qf, of, lf;
      for (int64_t w = w0; w < w1; ++w) {
        const int64_t b = w / s.heads, h = w % s.heads;
        const int64_t q0 = s.qo[b], nq = s.qo[b + 1] - q0;
        if (nq == 0) continue;
        unmasked_keys(s, b, keys);
        qf.resize(nq * s.d);
        of.resize(nq * s.dv);
        lf.resize(nq);
        for (int64_t i = 0; i < nq; ++i)
          for (int64_t x = 0; x < s.d; ++x)
            qf[i * s.d + x] = static_cast<acc_t>(q[((q0 + i) * s.heads + h) * s.d + x]);
        auto load = [&](int64_t j0, int64_t n, acc_t* kb, acc_t* vb) {
          for (int64_t jj = 0; jj < n; ++jj) {
            const int64_t row = keys[j0 + jj] * s.heads + h;
            for (int64_t x = 0; x < s.d; ++x) kb[jj * s.d + x] = static_cast<acc_t>(k[row * s.d + x]);
            for (int64_t e = 0; e < s.dv; ++e) vb[jj * s.dv + e] = static_cast<acc_t>(v[row * s.dv + e]);
          }
        };
        cpu_attention::forward<acc_t>(nq, static_cast<int64_t>(keys.size()), s.d, s.dv,
                                      static_cast<acc_t>(scale), qf.data(), load, of.data(),
                                      lf.data(), ws);
        for (int64_t i = 0; i < nq; ++i) {
          const int64_t row = (q0 + i) * s.heads + h;
          for (int64_t e = 0; e < s.dv; ++e) o[row * s.dv + e] = static_cast<scalar_t>(of[i * s.dv + e]);
          lse_p[row] = lf[i];
        }
      }
    });
  });
  return {out, lse};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ragged_attention_backward_kernel(
    const RaggedAttentionInputs& in_any, const at::Tensor& out_in, const at::Tensor& lse_in,
    const at::Tensor& grad_out_in, double scale, const RaggedAttentionGrads* into) {
  at::Tensor out = out_in.contiguous(), lse = lse_in.contiguous(), grad_out = grad_out_in.contiguous();
  if (on_rows(in_any)) {
    const Shape s = shape_of(in_any);
    // Every row is written (zeros where there is no attention): no zero-fill first.
    auto fresh = [](const at::Tensor& t) { return at::empty(t.sizes(), t.options()); };
    at::Tensor dq = into ? into->dq : fresh(in_any.q), dk = into ? into->dk : fresh(in_any.k),
               dv = into ? into->dv : fresh(in_any.v);
    backward_rows(s, in_any.q.data_ptr<float>(), in_any.k.data_ptr<float>(), in_any.v.data_ptr<float>(),
                  out.data_ptr<float>(), grad_out.data_ptr<float>(), lse.data_ptr<float>(), dq.data_ptr<float>(),
                  dq.stride(0), dk.data_ptr<float>(), dk.stride(0), dv.data_ptr<float>(), dv.stride(0),
                  static_cast<float>(scale));
    return {dq, dk, dv};
  }
  const RaggedAttentionInputs in = dense(in_any);
  const Shape s = shape_of(in);
  // Zeros: masked keys, keys of samples without queries and queries without keys get none.
  at::Tensor dq = at::zeros_like(in.q), dk = at::zeros_like(in.k), dv = at::zeros_like(in.v);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, in.q.scalar_type(), "ragged_attention_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* q = in.q.data_ptr<scalar_t>();
    const scalar_t* k = in.k.data_ptr<scalar_t>();
    const scalar_t* v = in.v.data_ptr<scalar_t>();
    const scalar_t* o = out.data_ptr<scalar_t>();
    const scalar_t* go = grad_out.data_ptr<scalar_t>();
    const acc_t* lse_p = lse.data_ptr<acc_t>();
    scalar_t* dq_p = dq.data_ptr<scalar_t>();
    scalar_t* dk_p = dk.data_ptr<scalar_t>();
    scalar_t* dv_p = dv.data_ptr<scalar_t>();
    at::parallel_for(0, s.batch * s.heads, 1, [&](int64_t w0, int64_t w1) {
      cpu_attention::Workspace<acc_t> ws;
      std::vector<int64_t> keys;
      std::vector<acc_t> qf, gf, dd, lf, dqf;
      for (int64_t w = w0; w < w1; ++w) {
        const int64_t b = w / s.heads, h = w % s.heads;
        const int64_t q0 = s.qo[b], nq = s.qo[b + 1] - q0;
        if (nq == 0) continue;
        unmasked_keys(s, b, keys);
        if (keys.empty()) continue;
        qf.resize(nq * s.d);
        gf.resize(nq * s.dv);
        dd.resize(nq);
        lf.resize(nq);
        dqf.assign(nq * s.d, acc_t(0));
        for (int64_t i = 0; i < nq; ++i) {
          const int64_t row = (q0 + i) * s.heads + h;
          for (int64_t x = 0; x < s.d; ++x) qf[i * s.d + x] = static_cast<acc_t>(q[row * s.d + x]);
          acc_t sum = 0;
          for (int64_t e = 0; e < s.dv; ++e) {
            const acc_t g = static_cast<acc_t>(go[row * s.dv + e]);
            gf[i * s.dv + e] = g;
            sum += g * static_cast<acc_t>(o[row * s.dv + e]);
          }
          dd[i] = sum;
          lf[i] = lse_p[row];
        }
        auto load = [&](int64_t j0, int64_t n, acc_t* kb, acc_t* vb) {
          for (int64_t jj = 0; jj < n; ++jj) {
            const int64_t row = keys[j0 + jj] * s.heads + h;
            for (int64_t x = 0; x < s.d; ++x) kb[jj * s.d + x] = static_cast<acc_t>(k[row * s.d + x]);
            for (int64_t e = 0; e < s.dv; ++e) vb[jj * s.dv + e] = static_cast<acc_t>(v[row * s.dv + e]);
          }
        };
        auto store = [&](int64_t j0, int64_t n, const acc_t* dkb, const acc_t* dvb) {
          for (int64_t jj = 0; jj < n; ++jj) {
            const int64_t row = keys[j0 + jj] * s.heads + h;
            for (int64_t x = 0; x < s.d; ++x) dk_p[row * s.d + x] = static_cast<scalar_t>(dkb[jj * s.d + x]);
            for (int64_t e = 0; e < s.dv; ++e) dv_p[row * s.dv + e] = static_cast<scalar_t>(dvb[jj * s.dv + e]);
          }
        };
        cpu_attention::backward<acc_t>(nq, static_cast<int64_t>(keys.size()), s.d, s.dv,
                                       static_cast<acc_t>(scale), qf.data(), gf.data(), dd.data(),
                                       lf.data(), load, true, store, dqf.data(), ws);
        for (int64_t i = 0; i < nq; ++i) {
          const int64_t row = (q0 + i) * s.heads + h;
          for (int64_t x = 0; x < s.d; ++x) dq_p[row * s.d + x] = static_cast<scalar_t>(dqf[i * s.d + x]);
        }
      }
    });
  });
  if (into) return {into->dq.copy_(dq), into->dk.copy_(dk), into->dv.copy_(dv)};
  return {dq, dk, dv};
}

}  // namespace lemur::ops::cpu
