// Datasets in native memory: the columns of a split (samples) and of the documents table, as
// tensors viewing the Arrow files' memory (borrowed from JS, zero-copy).
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace lemur::data {

struct SequenceColumn {
  std::string name;
  at::Tensor offsets;  // [rows+1] int32
  at::Tensor values;   // [total] int32 document indices
  at::Tensor action;   // [total] int32 or undefined
  at::Tensor age;      // [total] float32 or undefined
};

struct SampleTable {
  int64_t rows = 0;
  at::Tensor label, doc, user, query;  // [rows]: float32, int32, int32, int32
  at::Tensor query_tokens;             // [rows, Lq] int32 or undefined
  std::vector<std::string> categorical_names;
  std::vector<at::Tensor> categorical;  // each [rows] int32
  std::vector<std::string> dense_names;
  std::vector<at::Tensor> dense;        // each [rows] float32
  std::vector<SequenceColumn> sequences;
  at::Tensor cold;                      // [rows] uint8 or undefined

  const SequenceColumn& sequence(const std::string& name) const;
  // Checks what native code relies on (index ranges, offsets); throws UserError naming the
  // column and first bad row. The TypeScript side validates more thoroughly first.
  void check(int64_t num_documents, const std::string& what) const;
};

struct DocumentTable {
  int64_t rows = 0;
  at::Tensor tokens;     // [rows, Ld] int32
  at::Tensor images;     // [rows, H, W, C] uint8 or undefined
  at::Tensor has_image;  // [rows] uint8 or undefined
  std::vector<std::string> categorical_names;
  std::vector<at::Tensor> categorical;  // each [rows] int32 (>= 0)

  void check(const std::string& what) const;
  // The categorical columns side by side: [rows, C] int64 (C may be 0).
  at::Tensor categorical_matrix() const;
  // Content of the given documents, gathered into fresh CPU tensors.
  struct Content {
    at::Tensor tokens;     // [U, Ld] int64
    at::Tensor images;     // [U, H, W, C] uint8 or undefined
    at::Tensor has_image;  // [U] bool or undefined
  };
  Content gather(const at::Tensor& doc_ids) const;
};

}  // namespace lemur::data
