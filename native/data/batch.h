// One batch of samples, as the loader assembles it and the model consumes it. Histories are
// ragged (offsets + values), never padded; candidate documents are deduplicated once here.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace lemur::data {

struct SequenceBatch {
  std::string name;    // the sequence view's name (e.g. "short")
  at::Tensor offsets;  // [B+1] int64
  at::Tensor ids;      // [T] int64 document indices, each sample oldest first, newest last
  at::Tensor action;   // [T] int64, or undefined
  at::Tensor age;      // [T] float32, or undefined
};

struct Batch {
  int64_t size = 0;
  int64_t global_size = 0;  // rows of the global batch this one is a shard of (= size unsharded)
  at::Tensor rows;          // [B] int64: the samples' row numbers in their split
  at::Tensor label;         // [B] float32
  at::Tensor doc;           // [B] int64 candidate document index
  at::Tensor user;          // [B] int64
  at::Tensor query;         // [B] int64 query id
  at::Tensor query_tokens;  // [B, Lq] int64, or undefined (no query text)
  at::Tensor categorical;   // [B, C] int64 (C may be 0)
  at::Tensor dense;         // [B, F] float32 (F may be 0)
  at::Tensor cold;          // [B] uint8, or undefined
  std::vector<SequenceBatch> sequences;
  at::Tensor unique_docs;   // [U] int64 distinct candidate documents
  at::Tensor doc_inverse;   // [B] int64: doc == unique_docs[doc_inverse]

  Batch to(const at::Device& device) const;
  const SequenceBatch& sequence(const std::string& name) const;
};

}  // namespace lemur::data
