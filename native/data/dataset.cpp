#include "data/dataset.h"

#include <ATen/ATen.h>

#include "core/js_error.h"

namespace lemur::data {
namespace {

void check_index_range(const at::Tensor& t, int64_t limit, const std::string& what,
                       const std::string& column, const char* kind) {
  const int32_t* p = t.data_ptr<int32_t>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (p[i] < 0 || p[i] >= limit)
      throw UserError(what + ", column '" + column + "', element " + std::to_string(i) + ": " + kind +
                      " " + std::to_string(p[i]) + " is outside [0, " + std::to_string(limit) + ")");
  }
}

void check_non_negative(const at::Tensor& t, const std::string& what, const std::string& column) {
  const int32_t* p = t.data_ptr<int32_t>();
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (p[i] < 0)
      throw UserError(what + ", column '" + column + "', row " + std::to_string(i) +
                      ": negative value " + std::to_string(p[i]));
}

}  // namespace

const SequenceColumn& SampleTable::sequence(const std::string& name) const {
  for (const auto& s : sequences)
    if (s.name == name) return s;
  std::string known;
  for (const auto& s : sequences) known += (known.empty() ? "" : ", ") + s.name;
  throw UserError("the dataset has no sequence column '" + name + "' (it has: " +
                  (known.empty() ? "none" : known) + ")");
}

void SampleTable::check(int64_t num_documents, const std::string& what) const {
  auto expect_rows = [&](const at::Tensor& t, const std::string& col) {
    if (t.size(0) != rows)
      throw UserError(what + ", column '" + col + "': " + std::to_string(t.size(0)) +
                      " rows, expected " + std::to_string(rows));
  };
  expect_rows(label, "label");
  expect_rows(doc, "doc");
  expect_rows(user, "user");
  expect_rows(query, "query");
  check_index_range(doc, num_documents, what, "doc", "document index");
  check_non_negative(user, what, "user");
  check_non_negative(query, what, "query");
  for (size_t i = 0; i < categorical.size(); ++i) {
    expect_rows(categorical[i], "cat." + categorical_names[i]);
    check_non_negative(categorical[i], what, "cat." + categorical_names[i]);
  }
  for (size_t i = 0; i < dense.size(); ++i) expect_rows(dense[i], "dense." + dense_names[i]);
  if (query_tokens.defined()) expect_rows(query_tokens, "queryTokens");
  if (cold.defined()) expect_rows(cold, "coldStart");
  for (const auto& s : sequences) {
    const std::string col = "seq." + s.name;
    if (s.offsets.numel() != rows + 1)
      throw UserError(what + ", column '" + col + "': offsets has " + std::to_string(s.offsets.numel()) +
                      " entries, expected rows + 1 = " + std::to_string(rows + 1));
    const int32_t* o = s.offsets.data_ptr<int32_t>();
    if (o[0] != 0) throw UserError(what + ", column '" + col + "': offsets must start at 0");
    for (int64_t r = 0; r < rows; ++r)
      if (o[r + 1] < o[r])
        throw UserError(what + ", column '" + col + "', row " + std::to_string(r) +
                        ": list offsets decrease (" + std::to_string(o[r]) + " -> " +
                        std::to_string(o[r + 1]) + ")");
    if (o[rows] != s.values.numel())
      throw UserError(what + ", column '" + col + "': offsets end at " + std::to_string(o[rows]) +
                      " but there are " + std::to_string(s.values.numel()) + " values");
    check_index_range(s.values, num_documents, what, col, "document index");
    if (s.action.defined() && s.action.numel() != s.values.numel())
      throw UserError(what + ", column '" + col + ".action': length differs from its sequence");
    if (s.age.defined() && s.age.numel() != s.values.numel())
      throw UserError(what + ", column '" + col + ".age': length differs from its sequence");
    if (s.action.defined()) check_non_negative(s.action, what, col + ".action");
  }
}

void DocumentTable::check(const std::string& what) const {
  if (tokens.dim() != 2 || tokens.size(0) != rows)
    throw UserError(what + ", column 'tokens': expected [" + std::to_string(rows) + ", width], got " +
                    c10::str(tokens.sizes()));
  if (images.defined() && (images.dim() != 4 || images.size(0) != rows))
    throw UserError(what + ", column 'image': expected [" + std::to_string(rows) + ", H, W, C], got " +
                    c10::str(images.sizes()));
  for (size_t c = 0; c < categorical.size(); ++c) {
    if (categorical[c].numel() != rows)
      throw UserError(what + ", column 'cat." + categorical_names[c] + "': " + std::to_string(categorical[c].numel()) +
                      " rows, expected " + std::to_string(rows));
    check_non_negative(categorical[c], what, "cat." + categorical_names[c]);
  }
  const int32_t* t = tokens.data_ptr<int32_t>();
  for (int64_t i = 0, n = tokens.numel(); i < n; ++i)
    if (t[i] < 0)
      throw UserError(what + ", column 'tokens', row " + std::to_string(i / tokens.size(1)) +
                      ": negative token id " + std::to_string(t[i]));
}

at::Tensor DocumentTable::categorical_matrix() const {
  if (categorical.empty()) return at::zeros({rows, 0}, at::kLong);
  std::vector<at::Tensor> cols;
  for (const auto& c : categorical) cols.push_back(c.to(at::kLong));
  return at::stack(cols, 1);
}

DocumentTable::Content DocumentTable::gather(const at::Tensor& doc_ids) const {
  at::Tensor ids = doc_ids.to(at::kCPU, at::kLong).contiguous();
  Content c;
  c.tokens = tokens.index_select(0, ids).to(at::kLong);
  if (images.defined()) {
    c.images = images.index_select(0, ids);
    c.has_image = has_image.defined() ? has_image.index_select(0, ids).to(at::kBool)
                                      : at::ones({ids.numel()}, at::kBool);
  }
  return c;
}

}  // namespace lemur::data
