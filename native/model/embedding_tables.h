// Hashed ID embedding tables (users, documents, categorical fields), updated sparsely: a
// lookup deduplicates its ids once, fetches each touched row once as a leaf tensor, and
// expands it to every occurrence (ops::expand_rows, whose backward sums repeated rows
// deterministically). After backward, the row-wise optimizer updates only those rows.
#pragma once
#include <torch/nn/module.h>

#include <string>
#include <vector>

namespace lemur::model {

struct SparseOptimConfig {
  std::string kind = "adagrad";  // "adagrad" (row-wise accumulator) | "adam" (lazy, row-wise v)
  double lr = 0.05, eps = 1e-8, beta1 = 0.9, beta2 = 0.999;
};

struct EmbeddingTablesImpl : torch::nn::Module {
  EmbeddingTablesImpl(int64_t dim, SparseOptimConfig optim);

  // Adds a table of `rows` rows; ids >= rows are hashed into it. Returns its index.
  int add_table(const std::string& name, int64_t rows);

  // Embeddings for several id tensors of one table, deduplicated together:
  // returns one [len(ids_i), dim] tensor per input. With `train`, the touched rows are
  // remembered for sparse_step() and receive gradients. Outside training, rows that never
  // received an update read as zeros: an id never seen in training is "unknown", not the
  // random vector it was initialized with (which the model never learned to read).
  std::vector<at::Tensor> lookup(int table, const std::vector<at::Tensor>& ids, bool train);
  at::Tensor lookup(int table, const at::Tensor& ids, bool train) { return lookup(table, std::vector<at::Tensor>{ids}, train)[0]; }

  // Applies the row-wise optimizer to the rows touched since the last call, then forgets them.
  void sparse_step(double lr_scale = 1.0);
  void zero_touched() { touched_.clear(); }
  // Sum of squares of the gradients of the rows touched since the last sparse_step (a 0-dim
  // tensor on the tables' device; undefined when none received a gradient).
  at::Tensor grad_square_sum() const;

  int64_t dim() const { return dim_; }
  int64_t rows(int table) const { return weights_[table].size(0); }
  const at::Tensor& weight(int table) const { return weights_[table]; }
  int num_tables() const { return static_cast<int>(weights_.size()); }

  // The rows touched since the last sparse_step and their gradients (undefined: none), in
  // lookup order; replace_touched() swaps in other gradients for them (data-parallel
  // training sums the ranks' rows before the row-wise optimizer runs).
  struct TouchedRows {
    int table;
    at::Tensor unique;  // [U] int64 rows
    at::Tensor grad;    // [U, dim] float32, or undefined
  };
  std::vector<TouchedRows> touched_rows() const;
  void replace_touched(std::vector<TouchedRows> rows);

 private:
  at::Tensor hash(int table, const at::Tensor& ids) const;
  struct Touched {
    int table;
    at::Tensor unique;  // [U] rows
    at::Tensor leaf;    // [U, dim] requires grad
    at::Tensor grad;    // set by replace_touched: used instead of leaf.grad()
    const at::Tensor& gradient() const { return grad.defined() ? grad : leaf.grad(); }
  };
  int64_t dim_;
  SparseOptimConfig optim_;
  std::vector<std::string> names_;
  std::vector<at::Tensor> weights_, state_v_, state_m_, trained_;
  std::vector<Touched> touched_;
};
TORCH_MODULE(EmbeddingTables);

}  // namespace lemur::model
