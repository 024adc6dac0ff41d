// Hashed ID embedding tables (users, documents, categorical fields), updated sparsely: a
// lookup deduplicates its ids once, fetches each touched row once as a leaf tensor, and
// expands it to every occurrence (ops::expand_rows, whose backward sums repeated rows
// deterministically). After backward, the row-wise optimizer updates only those rows.
#pragma once
#include <torch/nn/module.h>

#include <string>
#include <vector>

namespace lemur::dist {
class ProcessGroup;
}

namespace lemur::model {

struct SparseOptimConfig {
  std::string kind = "adagrad";  // "adagrad" (row-wise accumulator) | "adam" (lazy, row-wise v)
  double lr = 0.05, eps = 1e-8, beta1 = 0.9, beta2 = 0.999;
};

// Row-wise sharding (TorchRec's row-wise plan): rank r of n owns the contiguous block
// [r * ceil(R / n), (r + 1) * ceil(R / n)) of each table's R rows, and only that block's
// weights and optimizer state. A lookup sends its distinct rows to their owners and gets
// the rows back (all-to-all); after backward the rows' gradients go back to the owners,
// which sum them and run the row-wise optimizer.
struct TableSharding {
  int rank = 0, count = 1;
};

// The rows [lo, hi) of `total` that rank `rank` of `count` owns: blocks of ceil(total / count).
std::pair<int64_t, int64_t> row_block(int64_t total, int rank, int count);
inline std::pair<int64_t, int64_t> row_block(int64_t total, const TableSharding& s) { return row_block(total, s.rank, s.count); }

// Ids (any order) grouped by their owning rank for an all-to-all: the permutation that sorts
// them by owner (stable) and how many go to each rank. `block` is the owners' block size.
struct OwnerRoute {
  at::Tensor order;             // [n] int64
  std::vector<int64_t> counts;  // [ranks]
};
OwnerRoute route_to_owners(const at::Tensor& ids, int64_t block, int ranks);

struct EmbeddingTablesImpl : torch::nn::Module {
  EmbeddingTablesImpl(int64_t dim, SparseOptimConfig optim, TableSharding sharding = {});

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

  // Sharded tables: the group their all-to-alls run on (set when the model joins it).
  bool sharded() const { return sharding_.count > 1; }
  const TableSharding& sharding() const { return sharding_; }
  void connect(dist::ProcessGroup* group) { group_ = group; }
  // After backward: each touched row's gradient to its owner, summed there over ranks and
  // divided by the world size; the touched set becomes this rank's own rows (local indices).
  void exchange_sharded_gradients();
  // After loading a checkpoint of whole tables: keep this rank's block.
  void shard_buffers();
  // The tables' buffers (weights, optimizer state, trained flags).
  std::vector<at::Tensor> table_buffers() const;
  // Each of them with the table's row count (sharded checkpoints address rows by it).
  std::vector<std::pair<at::Tensor, int64_t>> row_buffers() const;

  int64_t dim() const { return dim_; }
  int64_t rows(int table) const { return rows_total_[table]; }  // all rows, whichever rank holds them
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
  at::Tensor init_rows(int64_t rows, int64_t lo, int64_t hi) const;
  // Sharded lookup: the rows of `unique` (sorted) from their owners.
  at::Tensor fetch_rows(int table, const at::Tensor& unique, bool train, std::vector<int64_t>* sent,
                        std::vector<int64_t>* received, at::Tensor* served);
  struct Touched {
    int table;
    at::Tensor unique;  // [U] rows (local indices after exchange_sharded_gradients)
    at::Tensor leaf;    // [U, dim] requires grad
    at::Tensor grad;    // set by replace_touched: used instead of leaf.grad()
    // sharded: rows asked of each owner, rows each rank asked of this one, and which (local)
    std::vector<int64_t> sent, received;
    at::Tensor served;
    const at::Tensor& gradient() const { return grad.defined() ? grad : leaf.grad(); }
  };
  int64_t dim_;
  SparseOptimConfig optim_;
  TableSharding sharding_;
  dist::ProcessGroup* group_ = nullptr;
  std::vector<int64_t> rows_total_, start_, block_;
  std::vector<std::string> names_;
  std::vector<at::Tensor> weights_, state_v_, state_m_, trained_;
  std::vector<Touched> touched_;
};
TORCH_MODULE(EmbeddingTables);

}  // namespace lemur::model
