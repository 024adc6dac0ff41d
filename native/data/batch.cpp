#include "data/batch.h"

#include <ATen/ATen.h>

#include "core/js_error.h"

namespace lemur::data {

namespace {
at::Tensor move(const at::Tensor& t, const at::Device& d) {
  return t.defined() ? t.to(d, /*non_blocking=*/true) : t;
}
}  // namespace

Batch Batch::to(const at::Device& device) const {
  if (device.is_cpu()) return *this;
  Batch b;
  b.size = size;
  b.global_size = global_size;
  b.rows = rows;  // stays on the host: it only maps outputs back to dataset rows
  b.label = move(label, device);
  b.doc = move(doc, device);
  b.user = move(user, device);
  b.query = move(query, device);
  b.query_tokens = move(query_tokens, device);
  b.categorical = move(categorical, device);
  b.dense = move(dense, device);
  b.cold = cold;
  for (const auto& s : sequences)
    b.sequences.push_back({s.name, move(s.offsets, device), move(s.ids, device), move(s.action, device),
                           move(s.age, device)});
  b.unique_docs = move(unique_docs, device);
  b.doc_inverse = move(doc_inverse, device);
  return b;
}

const SequenceBatch& Batch::sequence(const std::string& name) const {
  for (const auto& s : sequences)
    if (s.name == name) return s;
  throw UserError("batch has no sequence view '" + name + "'");
}

}  // namespace lemur::data
