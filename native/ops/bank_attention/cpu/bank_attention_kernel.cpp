// CPU reference and implementation of bank_attention: each sample's queries and heads are one
// run of [nq * H, E] rows attending over the sample's present bank rows (read by id, never
// gathered into a tensor). Parallel over (sample, block of 64 query rows).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include "ops/bank_attention/bank_attention.h"
#include "ops/common/cpu_attention.h"

namespace lemur::ops::cpu {

namespace {

constexpr int64_t kRowsPerItem = 64;

template <typename acc_t>
using RowReader = void (*)(const void* base, int64_t row, int64_t width, acc_t* dst);

template <typename src_t, typename acc_t>
void read_row(const void* base, int64_t row, int64_t width, acc_t* dst) {
  const src_t* s = static_cast<const src_t*>(base) + row * width;
  for (int64_t x = 0; x < width; ++x) dst[x] = static_cast<acc_t>(s[x]);
}

template <typename acc_t>
RowReader<acc_t> row_reader(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return read_row<float, acc_t>;
    case at::kDouble: return read_row<double, acc_t>;
    case at::kHalf: return read_row<at::Half, acc_t>;
    case at::kBFloat16: return read_row<at::BFloat16, acc_t>;
    default: TORCH_CHECK(false, "bank_attention: unsupported bank dtype ", t);
  }
}

struct Item {
  int64_t b, row0, rows;  // rows row0 .. row0 + rows - 1 of the flattened [Tq * H, E] queries
};

std::vector<Item> work_items(const BankAttentionInputs& in) {
  const int64_t* qr = in.q_row_offsets_cpu.data_ptr<int64_t>();
  std::vector<Item> items;
  for (int64_t b = 0; b + 1 < in.q_row_offsets_cpu.numel(); ++b)
    for (int64_t r = qr[b]; r < qr[b + 1]; r += kRowsPerItem)
      items.push_back({b, r, std::min(kRowsPerItem, qr[b + 1] - r)});
  return items;
}

// The bank rows of sample b's present ids, in order.
void present_rows(const BankAttentionInputs& in, int64_t b, std::vector<int64_t>& rows) {
  const int64_t* ko = in.k_offsets_cpu.data_ptr<int64_t>();
  const int64_t* ids = in.ids.data_ptr<int64_t>();
  const uint8_t* written = static_cast<const uint8_t*>(in.written.data_ptr());
  rows.clear();
  for (int64_t j = ko[b]; j < ko[b + 1]; ++j)
    if (written[ids[j]]) rows.push_back(ids[j]);
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> bank_attention_forward_kernel(const BankAttentionInputs& in,
                                                                double scale) {
  const int64_t e = in.q.size(2);
  at::Tensor out = at::empty_like(in.q);
  at::Tensor lse;
  const std::vector<Item> items = work_items(in);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, in.q.scalar_type(), "bank_attention_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    lse = at::empty({in.q.size(0), in.q.size(1)}, in.q.options().dtype(c10::CppTypeToScalarType<acc_t>::value));
    const scalar_t* q = in.q.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    acc_t* lse_p = lse.data_ptr<acc_t>();
    const void* bank = in.bank.data_ptr();
    const RowReader<acc_t> read = row_reader<acc_t>(in.bank.scalar_type());
    at::parallel_for(0, static_cast<int64_t>(items.size()), 1, [&](int64_t w0, int64_t w1) {
      cpu_attention::Workspace<acc_t> ws;
      std::vector<int64_t> rows;
      std::vector<acc_t> qf, of, lf;
      for (int64_t w = w0; w < w1; ++w) {
        const Item it = items[w];
        present_rows(in, it.b, rows);
        qf.resize(it.rows * e);
        of.resize(it.rows * e);
        lf.resize(it.rows);
        for (int64_t i = 0; i < it.rows * e; ++i) qf[i] = static_cast<acc_t>(q[it.row0 * e + i]);
        auto load = [&](int64_t j0, int64_t n, acc_t* kb, acc_t* vb) {
          for (int64_t jj = 0; jj < n; ++jj) {
            read(bank, rows[j0 + jj], e, kb + jj * e);
            std::copy(kb + jj * e, kb + (jj + 1) * e, vb + jj * e);
          }
        };
        cpu_attention::forward<acc_t>(it.rows, static_cast<int64_t>(rows.size()), e, e,
                                      static_cast<acc_t>(scale), qf.data(), load, of.data(),
                                      lf.data(), ws);
        for (int64_t i = 0; i < it.rows * e; ++i) o[it.row0 * e + i] = static_cast<scalar_t>(of[i]);
        for (int64_t i = 0; i < it.rows; ++i) lse_p[it.row0 + i] = lf[i];
      }
    });
  });
  return {out, lse};
}

at::Tensor bank_attention_backward_kernel(const BankAttentionInputs& in, const at::Tensor& out_in,
                                          const at::Tensor& lse_in, const at::Tensor& grad_out_in,
                                          double scale) {
  const int64_t e = in.q.size(2);
  at::Tensor out = out_in.contiguous(), lse = lse_in.contiguous(), grad_out = grad_out_in.contiguous();
  at::Tensor dq = at::zeros_like(in.q);
  const std::vector<Item> items = work_items(in);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, in.q.scalar_type(), "bank_attention_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* q = in.q.data_ptr<scalar_t>();
    const scalar_t* o = out.data_ptr<scalar_t>();
    const scalar_t* go = grad_out.data_ptr<scalar_t>();
    const acc_t* lse_p = lse.data_ptr<acc_t>();
    scalar_t* dq_p = dq.data_ptr<scalar_t>();
    const void* bank = in.bank.data_ptr();
    const RowReader<acc_t> read = row_reader<acc_t>(in.bank.scalar_type());
    at::parallel_for(0, static_cast<int64_t>(items.size()), 1, [&](int64_t w0, int64_t w1) {
      cpu_attention::Workspace<acc_t> ws;
      std::vector<int64_t> rows;
      std::vector<acc_t> qf, gf, dd, lf, dqf;
      for (int64_t w = w0; w < w1; ++w) {
        const Item it = items[w];
        present_rows(in, it.b, rows);
        if (rows.empty()) continue;
        qf.resize(it.rows * e);
        gf.resize(it.rows * e);
        dd.resize(it.rows);
        lf.resize(it.rows);
        dqf.assign(it.rows * e, acc_t(0));
        for (int64_t i = 0; i < it.rows; ++i) {
          const int64_t row = it.row0 + i;
          acc_t sum = 0;
          for (int64_t x = 0; x < e; ++x) {
            qf[i * e + x] = static_cast<acc_t>(q[row * e + x]);
            const acc_t g = static_cast<acc_t>(go[row * e + x]);
            gf[i * e + x] = g;
            sum += g * static_cast<acc_t>(o[row * e + x]);
          }
          dd[i] = sum;
          lf[i] = lse_p[row];
        }
        auto load = [&](int64_t j0, int64_t n, acc_t* kb, acc_t* vb) {
          for (int64_t jj = 0; jj < n; ++jj) {
            read(bank, rows[j0 + jj], e, kb + jj * e);
            std::copy(kb + jj * e, kb + (jj + 1) * e, vb + jj * e);
          }
        };
        auto no_store = [](int64_t, int64_t, const acc_t*, const acc_t*) {};
        cpu_attention::backward<acc_t>(it.rows, static_cast<int64_t>(rows.size()), e, e,
                                       static_cast<acc_t>(scale), qf.data(), gf.data(), dd.data(),
                                       lf.data(), load, false, no_store, dqf.data(), ws);
        for (int64_t i = 0; i < it.rows * e; ++i) dq_p[it.row0 * e + i] = static_cast<scalar_t>(dqf[i]);
      }
    });
  });
  return dq;
}

}  // namespace lemur::ops::cpu
