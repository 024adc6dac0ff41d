// Runs the lemur CUDA kernels under the CPU emulation (include/) against float64 references.
// Built and run by run.sh; prints one line per check and "N passed, N failed".
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ops/bank_attention/cuda/bank_attention_kernel.h"
#include "ops/expand_rows/cuda/expand_rows_kernel.h"
#include "ops/memory_bank/cuda/memory_bank_kernel.h"
#include "ops/ragged_attention/cuda/ragged_attention_kernel.h"
#include "cuda_bf16.h"
#include "cuda_fp16.h"

using namespace lemur::cuda;

static int passed = 0, failed = 0;
static void check(bool ok, const std::string& what) {
  (ok ? passed : failed)++;
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
}
static double max_err(const std::vector<double>& got, const std::vector<double>& want, double atol, double rtol) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = std::fabs(got[i] - want[i]);
    const double e = d == 0 ? 0 : d / (atol + rtol * std::fabs(want[i]));
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

static std::mt19937 rng(7);
static std::vector<double> uniform(size_t n, double lo = -1, double hi = 1) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
static std::vector<int64_t> offsets_of(const std::vector<int64_t>& lens) {
  std::vector<int64_t> o{0};
  for (auto n : lens) o.push_back(o.back() + n);
  return o;
}
static std::vector<int64_t> tiles_of(const std::vector<int64_t>& off, int64_t tile) {
  std::vector<int64_t> t{0};
  for (size_t i = 1; i < off.size(); ++i) t.push_back(t.back() + (off[i] - off[i - 1] + tile - 1) / tile);
  return t;
}

// Storage in dtype dt of float64 values (and the values as stored, for the reference).
struct Stored {
  DType dt;
  std::vector<float> f;
  std::vector<__nv_bfloat16> b;
  std::vector<__half> hf;
  std::vector<double> values;
  void* ptr() {
    return dt == DType::F32 ? static_cast<void*>(f.data())
                            : (dt == DType::BF16 ? static_cast<void*>(b.data()) : static_cast<void*>(hf.data()));
  }
};
static Stored store(const std::vector<double>& v, DType dt) {
  Stored s{dt, {}, {}, {}, {}};
  for (double x : v) {
    if (dt == DType::F32) { s.f.push_back(static_cast<float>(x)); s.values.push_back(s.f.back()); }
    else if (dt == DType::BF16) { s.b.push_back(__float2bfloat16(static_cast<float>(x))); s.values.push_back(__bfloat162float(s.b.back())); }
    else { s.hf.push_back(__float2half(static_cast<float>(x))); s.values.push_back(__half2float(s.hf.back())); }
  }
  return s;
}
static std::vector<double> values_of(const void* p, DType dt, size_t n) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = dt == DType::F32    ? static_cast<const float*>(p)[i]
           : dt == DType::BF16 ? __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i])
                               : __half2float(static_cast<const __half*>(p)[i]);
  return v;
}

struct Ref { std::vector<double> out, lse, dq, dk, dv; };
// Float64 reference: keys of sample b are k rows kk with mask; key row kk, head h at key(kk, h).
static Ref reference(int64_t heads, int64_t d, int64_t dv, const std::vector<int64_t>& qo, const std::vector<int64_t>& ko,
                     const std::vector<double>& q, const std::function<const double*(int64_t, int64_t)>& key,
                     const std::function<const double*(int64_t, int64_t)>& val, const std::function<bool(int64_t)>& present,
                     const std::vector<double>& g, double scale, size_t nk_total, bool want_kv) {
  const int64_t tq = qo.back();
  Ref r;
  r.out.assign(tq * heads * dv, 0);
  r.lse.assign(tq * heads, -INFINITY);
  r.dq.assign(tq * heads * d, 0);
  if (want_kv) { r.dk.assign(nk_total * heads * d, 0); r.dv.assign(nk_total * heads * dv, 0); }
  for (size_t b = 0; b + 1 < qo.size(); ++b)
    for (int64_t i = qo[b]; i < qo[b + 1]; ++i)
      for (int64_t h = 0; h < heads; ++h) {
        std::vector<int64_t> keys;
        for (int64_t j = ko[b]; j < ko[b + 1]; ++j) if (present(j)) keys.push_back(j);
        if (keys.empty()) continue;
        const double* qi = &q[(i * heads + h) * d];
        std::vector<double> s(keys.size()), p(keys.size()), dp(keys.size());
        double mx = -INFINITY;
        for (size_t n = 0; n < keys.size(); ++n) {
          double dot = 0;
          for (int64_t x = 0; x < d; ++x) dot += qi[x] * key(keys[n], h)[x];
          s[n] = dot * scale;
          mx = std::max(mx, s[n]);
        }
        double sum = 0;
        for (size_t n = 0; n < keys.size(); ++n) sum += std::exp(s[n] - mx);
        r.lse[i * heads + h] = mx + std::log(sum);
        const double* gi = &g[(i * heads + h) * dv];
        double pdp = 0;
        for (size_t n = 0; n < keys.size(); ++n) {
          p[n] = std::exp(s[n] - mx) / sum;
          double dot = 0;
          for (int64_t e = 0; e < dv; ++e) {
            r.out[(i * heads + h) * dv + e] += p[n] * val(keys[n], h)[e];
            dot += gi[e] * val(keys[n], h)[e];
          }
          dp[n] = dot;
          pdp += p[n] * dot;
        }
        for (size_t n = 0; n < keys.size(); ++n) {
          const double ds = p[n] * (dp[n] - pdp) * scale;
          for (int64_t x = 0; x < d; ++x) {
            r.dq[(i * heads + h) * d + x] += ds * key(keys[n], h)[x];
            if (want_kv) r.dk[(keys[n] * heads + h) * d + x] += ds * qi[x];
          }
          if (want_kv)
            for (int64_t e = 0; e < dv; ++e) r.dv[(keys[n] * heads + h) * dv + e] += p[n] * gi[e];
        }
      }
  return r;
}

static void ragged_case(const std::string& name, DType dt, int64_t heads, int64_t d, int64_t dv,
                        std::vector<int64_t> qlens, std::vector<int64_t> klens, double mask_rate) {
  const auto qo = offsets_of(qlens), ko = offsets_of(klens);
  const int64_t tq = qo.back(), tk = ko.back(), batch = qlens.size();
  Stored q = store(uniform(tq * heads * d, -1.5, 1.5), dt), k = store(uniform(tk * heads * d, -1.5, 1.5), dt);
  Stored v = store(uniform(tk * heads * dv), dt), g = store(uniform(tq * heads * dv), dt);
  std::vector<uint8_t> mask(tk);
  std::bernoulli_distribution keep(1 - mask_rate);
  for (auto& m : mask) m = keep(rng);
  const double scale = 1 / std::sqrt(static_cast<double>(d));
  RaggedAttentionLaunch L{dt, q.ptr(), k.ptr(), v.ptr(), mask_rate > 0 ? mask.data() : nullptr, qo.data(), ko.data(),
                          batch, heads, d, dv, tq, tk, static_cast<float>(scale)};
  int64_t maxq = 0;
  for (auto n : qlens) maxq = std::max(maxq, n);
  const int rows = attention_query_rows_per_block(dt, dt, d, dv, maxq);
  const auto qt = tiles_of(qo, rows), kt = tiles_of(ko, kAttentionKeysPerBlock);
  const size_t es = dt == DType::F32 ? 4 : 2;
  std::vector<char> out(tq * heads * dv * es), dq(tq * heads * d * es), dk(tk * heads * d * es), dvv(tk * heads * dv * es);
  std::vector<float> lse(tq * heads), dd(tq * heads);
  ragged_attention_forward(L, qt.data(), qt.back(), rows, out.data(), lse.data(), nullptr);
  ragged_attention_backward(L, qt.data(), qt.back(), rows, kt.data(), kt.back(), out.data(), g.ptr(), lse.data(), dd.data(),
                            dq.data(), dk.data(), dvv.data(), nullptr);
  const Ref r = reference(
      heads, d, dv, qo, ko, q.values, [&](int64_t kk, int64_t h) { return &k.values[(kk * heads + h) * d]; },
      [&](int64_t kk, int64_t h) { return &v.values[(kk * heads + h) * dv]; },
      [&](int64_t kk) { return mask_rate == 0 || mask[kk] != 0; }, g.values, scale, tk, true);
  const double atol = dt == DType::F32 ? 2e-5 : 3e-2, rtol = dt == DType::F32 ? 1e-4 : 2e-2;
  std::vector<double> lse_got(lse.begin(), lse.end());
  bool lse_ok = true;
  for (size_t i = 0; i < lse.size(); ++i)
    lse_ok &= std::isinf(r.lse[i]) ? (std::isinf(lse_got[i]) && lse_got[i] < 0) : std::fabs(lse_got[i] - r.lse[i]) < 1e-4 * (1 + std::fabs(r.lse[i]));
  check(max_err(values_of(out.data(), dt, r.out.size()), r.out, atol, rtol) <= 1, name + " out");
  check(lse_ok, name + " lse");
  check(max_err(values_of(dq.data(), dt, r.dq.size()), r.dq, atol, rtol) <= 1, name + " dq");
  check(max_err(values_of(dk.data(), dt, r.dk.size()), r.dk, atol, rtol) <= 1, name + " dk");
  check(max_err(values_of(dvv.data(), dt, r.dv.size()), r.dv, atol, rtol) <= 1, name + " dv");
}

static void bank_case(const std::string& name, DType qdt, DType bdt, int64_t heads, int64_t e, std::vector<int64_t> qlens,
                      std::vector<int64_t> klens, int64_t n_rows) {
  const auto qo = offsets_of(qlens), ko = offsets_of(klens);
  const int64_t tq = qo.back(), tk = ko.back(), batch = qlens.size();
  Stored q = store(uniform(tq * heads * e, -1.5, 1.5), qdt), g = store(uniform(tq * heads * e), qdt);
  Stored bank = store(uniform(n_rows * e, -1.5, 1.5), bdt);
  std::vector<uint8_t> written(n_rows);
  std::vector<int64_t> ids(tk);
  std::uniform_int_distribution<int64_t> pick(0, n_rows - 1);
  for (auto& w : written) w = pick(rng) % 5 != 0;
  for (size_t j = 0; j < ids.size(); ++j) ids[j] = j % 11 == 0 ? 0 : (j % 11 == 1 ? n_rows - 1 : pick(rng));
  std::vector<int64_t> qro;
  for (auto x : qo) qro.push_back(x * heads);
  const double scale = 1 / std::sqrt(static_cast<double>(e));
  BankAttentionLaunch L{qdt, bdt, q.ptr(), bank.ptr(), written.data(), ids.data(), qro.data(), ko.data(), batch, e, tq * heads,
                        static_cast<float>(scale)};
  int64_t maxr = 0;
  for (auto n : qlens) maxr = std::max(maxr, n * heads);
  const int rows = attention_query_rows_per_block(qdt, bdt, e, e, maxr);
  const auto qt = tiles_of(qro, rows);
  const size_t es = qdt == DType::F32 ? 4 : 2;
  std::vector<char> out(tq * heads * e * es), dq(tq * heads * e * es);
  std::vector<float> lse(tq * heads), dd(tq * heads);
  bank_attention_forward(L, qt.data(), qt.back(), rows, out.data(), lse.data(), nullptr);
  bank_attention_backward(L, qt.data(), qt.back(), rows, out.data(), g.ptr(), lse.data(), dd.data(), dq.data(), nullptr);
  const Ref r = reference(
      heads, e, e, qo, ko, q.values, [&](int64_t kk, int64_t) { return &bank.values[ids[kk] * e]; },
      [&](int64_t kk, int64_t) { return &bank.values[ids[kk] * e]; }, [&](int64_t kk) { return written[ids[kk]] != 0; },
      g.values, scale, tk, false);
  const double atol = qdt == DType::F32 ? 2e-5 : 3e-2, rtol = qdt == DType::F32 ? 1e-4 : 2e-2;
  check(max_err(values_of(out.data(), qdt, r.out.size()), r.out, atol, rtol) <= 1, name + " out");
  check(max_err(values_of(dq.data(), qdt, r.dq.size()), r.dq, atol, rtol) <= 1, name + " dq");
}

static void rows_cases() {
  // bank_gather: misses, duplicates, ends of the table; bf16 rows of 128 (16-byte words) and odd widths.
  for (int64_t e : {128, 3, 8}) {
    const int64_t n = 50, m = 200;
    Stored bank = store(uniform(n * e), DType::BF16);
    std::vector<uint8_t> written(n), present(m, 7);
    for (int64_t i = 0; i < n; ++i) written[i] = i % 3 != 1;
    std::vector<int64_t> ids(m);
    for (int64_t i = 0; i < m; ++i) ids[i] = (i * 37) % n;
    ids[0] = 0;
    ids[1] = n - 1;
    std::vector<__nv_bfloat16> rows(m * e);
    bank_gather(DType::BF16, bank.ptr(), written.data(), ids.data(), rows.data(), present.data(), m, e, nullptr);
    bool ok = true;
    for (int64_t i = 0; i < m; ++i) {
      ok &= present[i] == written[ids[i]];
      for (int64_t x = 0; x < e; ++x)
        ok &= rows[i * e + x].x == (written[ids[i]] ? bank.b[ids[i] * e + x].x : 0);
    }
    check(ok, "bank_gather bf16 width " + std::to_string(e));
  }
  // bank_scatter: heavy duplicates, last occurrence wins; widths of 1, 2 and 10 16-byte words
  // and one of 3 4-byte words (word groups of four, full and partial).
  for (int64_t e : {8, 4, 40, 3}) {
    const int64_t n = 40, m = 500;
    std::vector<float> bank(n * e, -1.f), rows(m * e);
    std::vector<uint8_t> written(n, 0);
    std::vector<int64_t> last(n, -5), ids(m);
    for (int64_t i = 0; i < m; ++i) { ids[i] = (i * i + 3 * i) % 23; for (int64_t x = 0; x < e; ++x) rows[i * e + x] = i * 100 + x; }
    std::vector<char> ws(bank_scatter_workspace_bytes(m, 6));
    bank_scatter(DType::F32, bank.data(), written.data(), last.data(), ids.data(), rows.data(), m, e, 9, 6, ws.data(), ws.size(), nullptr);
    std::vector<float> want(n * e, -1.f);
    std::vector<uint8_t> wwant(n, 0);
    for (int64_t i = 0; i < m; ++i) { for (int64_t x = 0; x < e; ++x) want[ids[i] * e + x] = rows[i * e + x]; wwant[ids[i]] = 1; }
    bool ok = bank == want && written == wwant;
    for (int64_t i = 0; i < n; ++i) ok &= last[i] == (wwant[i] ? 9 : -5);
    check(ok, "bank_scatter last writer wins, width " + std::to_string(e));
  }
  // gather_rows + segment_sum_rows: a hot row (300 > 64 occurrences), empty rows, odd dims.
  for (int64_t dim : {128, 5, 160}) {
    const int64_t m = 700, num_rows = 30;
    std::vector<int64_t> index(m);
    for (int64_t i = 0; i < m; ++i) index[i] = i < 300 ? 4 : (i * 7) % 25;  // rows 25..29 unused
    Stored grad = store(uniform(m * dim), DType::F32);
    std::vector<float> out(num_rows * dim, NAN);
    std::vector<char> ws(segment_sum_workspace_bytes(m, num_rows, dim, 5));
    segment_sum_rows(DType::F32, grad.ptr(), index.data(), out.data(), m, num_rows, dim, 5, ws.data(), ws.size(), nullptr);
    std::vector<double> want(num_rows * dim, 0);
    for (int64_t i = 0; i < m; ++i) for (int64_t x = 0; x < dim; ++x) want[index[i] * dim + x] += grad.values[i * dim + x];
    check(max_err(std::vector<double>(out.begin(), out.end()), want, 1e-4, 1e-5) <= 1, "segment_sum_rows dim " + std::to_string(dim));
    std::vector<float> src(num_rows * dim), got(m * dim);
    for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i);
    gather_rows(src.data(), index.data(), got.data(), m, dim * 4, nullptr);
    bool ok = true;
    for (int64_t i = 0; i < m; ++i) for (int64_t x = 0; x < dim; ++x) ok &= got[i * dim + x] == src[index[i] * dim + x];
    check(ok, "gather_rows dim " + std::to_string(dim));
  }
}

// segment_sum_rows in 16-bit storage: the 16-byte vector path (dim * 2 % 16 == 0) and the scalar
// one, a hot row chunked into partials, rows without occurrences.
static void segment_16bit_cases() {
  for (DType dt : {DType::BF16, DType::F16})
    for (int64_t dim : {128, 24, 12, 264}) {
      const int64_t m = 450, num_rows = 20;
      std::vector<int64_t> index(m);
      for (int64_t i = 0; i < m; ++i) index[i] = i < 150 ? 3 : (i * 5) % 17;  // rows 17..19 unused
      Stored grad = store(uniform(m * dim), dt);
      std::vector<char> out(num_rows * dim * 2);
      std::vector<char> ws(segment_sum_workspace_bytes(m, num_rows, dim, 5));
      segment_sum_rows(dt, grad.ptr(), index.data(), out.data(), m, num_rows, dim, 5, ws.data(), ws.size(), nullptr);
      std::vector<double> want(num_rows * dim, 0);
      for (int64_t i = 0; i < m; ++i) for (int64_t x = 0; x < dim; ++x) want[index[i] * dim + x] += grad.values[i * dim + x];
      check(max_err(values_of(out.data(), dt, want.size()), want, 2e-2, 1e-2) <= 1,
            std::string("segment_sum_rows ") + (dt == DType::BF16 ? "bf16" : "f16") + " dim " + std::to_string(dim));
    }
}

int main() {
  ragged_case("ragged f32 D64 masks/empty/long", DType::F32, 2, 64, 64, {16, 0, 3, 70, 1}, {130, 5, 0, 64, 1}, 0.3);
  ragged_case("ragged f32 D20 Dv36", DType::F32, 3, 20, 36, {5, 9, 2}, {40, 1, 77}, 0.2);
  ragged_case("ragged f32 D7 Dv3", DType::F32, 1, 7, 3, {3, 4}, {10, 65}, 0.0);
  ragged_case("ragged f32 D128", DType::F32, 1, 128, 128, {8, 12}, {100, 33}, 0.1);
  ragged_case("ragged bf16 D32 fully masked", DType::BF16, 2, 32, 32, {4, 6}, {50, 20}, 1.0);
  ragged_case("ragged bf16 D64 (tensor cores)", DType::BF16, 2, 64, 64, {16, 16}, {200, 70}, 0.1);
  ragged_case("ragged bf16 D128 Dv32 >64 queries, empty (tensor cores)", DType::BF16, 1, 128, 32, {70, 0, 5, 1}, {90, 12, 0, 64}, 0.2);
  ragged_case("ragged bf16 D48 Dv16 (tensor cores)", DType::BF16, 3, 48, 16, {9, 33}, {65, 1}, 0.0);
  ragged_case("ragged bf16 D40 (CUDA cores)", DType::BF16, 2, 40, 40, {7, 3}, {30, 70}, 0.1);
  ragged_case("ragged f16 D64 (tensor cores)", DType::F16, 2, 64, 64, {12, 3}, {100, 7}, 0.1);
  ragged_case("ragged bf16 D64 16k keys (tensor cores)", DType::BF16, 1, 64, 64, {3, 1}, {16384, 0}, 0.02);
  ragged_case("ragged f32 D32 16k keys", DType::F32, 1, 32, 32, {2}, {16384}, 0.0);
  ragged_case("ragged f16 D32 Dv64 (tensor cores)", DType::F16, 2, 32, 64, {17, 40, 2, 0}, {300, 33, 0, 9}, 0.05);
  ragged_case("ragged bf16 D16 tile edges (tensor cores)", DType::BF16, 1, 16, 16, {5, 64, 65, 16}, {17, 129, 64, 16}, 0.0);
  bank_case("bank f32/f32 E32", DType::F32, DType::F32, 4, 32, {3, 0, 20, 2}, {40, 10, 90, 0}, 60);
  bank_case("bank f32/bf16 E20", DType::F32, DType::BF16, 3, 20, {5, 2}, {70, 9}, 30);
  bank_case("bank bf16/bf16 E64 (tensor cores)", DType::BF16, DType::BF16, 8, 64, {2, 9}, {33, 80}, 100);
  bank_case("bank f16/f16 E128 (tensor cores)", DType::F16, DType::F16, 2, 128, {4, 1, 9}, {150, 3, 64}, 70);
  bank_case("bank bf16/bf16 E32 all missing (tensor cores)", DType::BF16, DType::BF16, 2, 32, {3, 4}, {0, 20}, 1);
  rows_cases();
  segment_16bit_cases();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
