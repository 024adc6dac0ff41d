// The CPU attention core shared by ragged_attention and bank_attention: one (sample, head)
// or (sample, query block) at a time, keys streamed in blocks of KEY_BLOCK through a loader,
// online softmax (flash-attention style) so memory stays O(block), math in acc_t (float for
// float32/float16/bfloat16 storage, double for float64). Inner loops run over contiguous
// acc_t rows so the compiler vectorizes them. Only unmasked keys are ever handed to the core:
// the loaders compact masked keys away, so no work is spent on them.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace lemur::ops::cpu_attention {

constexpr int64_t KEY_BLOCK = 64;

// Per-thread scratch, reused across the work items one thread runs.
template <typename acc_t>
struct Workspace {
  std::vector<acc_t> qt, dot, kb, vb, s, dp, m, l, dd, dkb, dvb;
  void reserve(int64_t nq, int64_t d, int64_t dv) {
    auto grow = [](std::vector<acc_t>& v, int64_t n) {
      if (static_cast<int64_t>(v.size()) < n) v.resize(n);
    };
    grow(qt, d * nq);
    grow(dot, dv * nq);
    grow(kb, KEY_BLOCK * d);
    grow(vb, KEY_BLOCK * dv);
    grow(s, KEY_BLOCK * nq);
    grow(dp, KEY_BLOCK * nq);
    grow(m, nq);
    grow(l, nq);
    grow(dd, nq);
    grow(dkb, KEY_BLOCK * d);
    grow(dvb, KEY_BLOCK * dv);
  }
};

// S[jj][i] = sum_d K[jj][d] * Qt[d][i] for jj < n: axpy over the query index.
template <typename acc_t>
inline void scores(const acc_t* kb, const acc_t* qt, acc_t* s, int64_t n, int64_t nq, int64_t d) {
  for (int64_t jj = 0; jj < n; ++jj) {
    acc_t* row = s + jj * nq;
    std::fill(row, row + nq, acc_t(0));
    const acc_t* k = kb + jj * d;
    for (int64_t x = 0; x < d; ++x) {
      const acc_t kx = k[x];
      const acc_t* q = qt + x * nq;
      for (int64_t i = 0; i < nq; ++i) row[i] += kx * q[i];
    }
  }
}

// Forward for nq queries q [nq][d] against nk keys. load(j0, n, kb, vb) writes n key rows
// (kb [n][d], vb [n][dv]) for keys j0..j0+n-1. Writes o [nq][dv] (zeros when nk == 0) and
// lse [nq] (the log-sum-exp of the scaled scores; -inf when nk == 0).
template <typename acc_t, typename Loader>
void forward(int64_t nq, int64_t nk, int64_t d, int64_t dv, acc_t scale, const acc_t* q,
             Loader&& load, acc_t* o, acc_t* lse, Workspace<acc_t>& ws) {
  const acc_t neg_inf = -std::numeric_limits<acc_t>::infinity();
  std::fill(o, o + nq * dv, acc_t(0));
  if (nk == 0) {
    std::fill(lse, lse + nq, neg_inf);
    return;
  }
  ws.reserve(nq, d, dv);
  acc_t *qt = ws.qt.data(), *kb = ws.kb.data(), *vb = ws.vb.data(), *s = ws.s.data();
  acc_t *m = ws.m.data(), *l = ws.l.data();
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t x = 0; x < d; ++x) qt[x * nq + i] = q[i * d + x] * scale;
  std::fill(m, m + nq, neg_inf);
  std::fill(l, l + nq, acc_t(0));
  for (int64_t j0 = 0; j0 < nk; j0 += KEY_BLOCK) {
    const int64_t n = std::min(KEY_BLOCK, nk - j0);
    load(j0, n, kb, vb);
    scores(kb, qt, s, n, nq, d);
    for (int64_t i = 0; i < nq; ++i) {
      acc_t mx = m[i];
      for (int64_t jj = 0; jj < n; ++jj) mx = std::max(mx, s[jj * nq + i]);
      acc_t* orow = o + i * dv;
      if (mx != m[i]) {  // rescale what was accumulated under the old maximum
        const acc_t alpha = std::exp(m[i] - mx);
        l[i] *= alpha;
        for (int64_t e = 0; e < dv; ++e) orow[e] *= alpha;
        m[i] = mx;
      }
      for (int64_t jj = 0; jj < n; ++jj) {
        const acc_t p = std::exp(s[jj * nq + i] - mx);
        l[i] += p;
        const acc_t* v = vb + jj * dv;
        for (int64_t e = 0; e < dv; ++e) orow[e] += p * v[e];
      }
    }
  }
  for (int64_t i = 0; i < nq; ++i) {
    const acc_t inv = acc_t(1) / l[i];
    for (int64_t e = 0; e < dv; ++e) o[i * dv + e] *= inv;
    lse[i] = m[i] + std::log(l[i]);
  }
}

// Backward for the same queries and keys. dout [nq][dv], dd[i] = dot(dout[i], out[i]),
// lse [nq] from the forward. Adds into dq [nq][d] (zero it first). When store is given
// (want_kv), store(j0, n, dkb, dvb) receives the complete gradients of keys j0..j0+n-1
// (dkb [n][d], dvb [n][dv]): every query of those keys is in this call.
template <typename acc_t, typename Loader, typename Store>
void backward(int64_t nq, int64_t nk, int64_t d, int64_t dv, acc_t scale, const acc_t* q,
              const acc_t* dout, const acc_t* dd, const acc_t* lse, Loader&& load, bool want_kv,
              Store&& store, acc_t* dq, Workspace<acc_t>& ws) {
  if (nk == 0 || nq == 0) return;
  ws.reserve(nq, d, dv);
  acc_t *qt = ws.qt.data(), *dot = ws.dot.data(), *kb = ws.kb.data(), *vb = ws.vb.data();
  acc_t *s = ws.s.data(), *dp = ws.dp.data(), *dkb = ws.dkb.data(), *dvb = ws.dvb.data();
  for (int64_t i = 0; i < nq; ++i) {
    for (int64_t x = 0; x < d; ++x) qt[x * nq + i] = q[i * d + x] * scale;
    for (int64_t e = 0; e < dv; ++e) dot[e * nq + i] = dout[i * dv + e];
  }
  for (int64_t j0 = 0; j0 < nk; j0 += KEY_BLOCK) {
    const int64_t n = std::min(KEY_BLOCK, nk - j0);
    load(j0, n, kb, vb);
    scores(kb, qt, s, n, nq, d);   // s = scaled scores
    scores(vb, dot, dp, n, nq, dv);  // dp[jj][i] = dout[i] . v[jj]
    for (int64_t jj = 0; jj < n; ++jj) {
      acc_t* prow = s + jj * nq;
      acc_t* dsrow = dp + jj * nq;
      for (int64_t i = 0; i < nq; ++i) {
        const acc_t p = std::exp(prow[i] - lse[i]);
        prow[i] = p;                       // s now holds P
        dsrow[i] = p * (dsrow[i] - dd[i]);  // dp now holds dS
      }
    }
    if (want_kv) {
      for (int64_t jj = 0; jj < n; ++jj) {
        acc_t* dk = dkb + jj * d;
        acc_t* dvv = dvb + jj * dv;
        std::fill(dk, dk + d, acc_t(0));
        std::fill(dvv, dvv + dv, acc_t(0));
        for (int64_t i = 0; i < nq; ++i) {
          const acc_t p = s[jj * nq + i], g = dp[jj * nq + i] * scale;
          const acc_t* gi = dout + i * dv;
          const acc_t* qi = q + i * d;
          for (int64_t e = 0; e < dv; ++e) dvv[e] += p * gi[e];
          for (int64_t x = 0; x < d; ++x) dk[x] += g * qi[x];
        }
      }
      store(j0, n, dkb, dvb);
    }
    for (int64_t jj = 0; jj < n; ++jj) {
      const acc_t* k = kb + jj * d;
      for (int64_t i = 0; i < nq; ++i) {
        const acc_t g = dp[jj * nq + i] * scale;
        acc_t* dqi = dq + i * d;
        for (int64_t x = 0; x < d; ++x) dqi[x] += g * k[x];
      }
    }
  }
}

}  // namespace lemur::ops::cpu_attention
