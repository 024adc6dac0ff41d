#include "data/batch_loader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <unordered_map>

#include "core/exit_guard.h"
#include "core/js_error.h"

namespace lemur::data {

namespace {

// Row order of an epoch: a function of (seed, epoch) only, so a resumed run sees the same.
std::vector<int64_t> epoch_order(int64_t rows, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(rows);
  for (int64_t i = 0; i < rows; ++i) order[i] = i;
  if (shuffle) {
    std::mt19937_64 gen(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) * 0xD1B54A32D192ED03ULL + 1);
    for (int64_t i = rows - 1; i > 0; --i) {
      std::uniform_int_distribution<int64_t> pick(0, i);
      std::swap(order[i], order[pick(gen)]);
    }
  }
  return order;
}

template <typename Src, typename Dst>
at::Tensor gather_1d(const at::Tensor& col, const std::vector<int64_t>& rows, at::ScalarType out_type) {
  at::Tensor out = at::empty({static_cast<int64_t>(rows.size())}, out_type);
  const Src* s = col.data_ptr<Src>();
  Dst* d = out.data_ptr<Dst>();
  for (size_t i = 0; i < rows.size(); ++i) d[i] = static_cast<Dst>(s[rows[i]]);
  return out;
}

}  // namespace

BatchLoader::BatchLoader(std::shared_ptr<const SampleTable> table, LoaderOptions options)
    : table_(std::move(table)), options_(std::move(options)) {
  if (options_.batch_size < 1) throw UserError("loader: batchSize must be >= 1");
  if (options_.prefetch < 1) options_.prefetch = 1;
  for (const auto& v : options_.views) {
    const SequenceColumn& col = table_->sequence(v.column);  // throws naming the column
    if (v.action && !col.action.defined())
      throw UserError("sequence '" + v.name + "': column 'seq." + v.column + ".action' is not in the dataset");
    if (v.age && !col.age.defined())
      throw UserError("sequence '" + v.name + "': column 'seq." + v.column + ".age' is not in the dataset");
  }
  if (options_.shard_count < 1 || options_.shard_rank < 0 || options_.shard_rank >= options_.shard_count)
    throw UserError("loader: shard " + std::to_string(options_.shard_rank) + " of " +
                    std::to_string(options_.shard_count) + " is not a valid shard");
  if (options_.batch_size < options_.shard_count)
    throw UserError("loader: batchSize " + std::to_string(options_.batch_size) + " is smaller than the " +
                    std::to_string(options_.shard_count) + " ranks that share each batch");
  const int64_t rows = table_->rows;
  batches_per_epoch_ = options_.drop_last ? rows / options_.batch_size
                                          : (rows + options_.batch_size - 1) / options_.batch_size;
  if (!options_.drop_last && !options_.shard_pad && rows % options_.batch_size != 0 &&
      rows % options_.batch_size < options_.shard_count)
    --batches_per_epoch_;  // the last batch cannot give every rank a row
  if (batches_per_epoch_ == 0)
    throw UserError("loader: the split has " + std::to_string(rows) + " rows, fewer than one batch of " +
                    std::to_string(options_.batch_size) + " (with dropLast)");
  if (options_.start_batch < 0 || options_.start_batch > batches_per_epoch_)
    throw UserError("loader: startBatch " + std::to_string(options_.start_batch) + " is outside [0, " +
                    std::to_string(batches_per_epoch_) + "]");
  next_epoch_ = options_.epoch;
  next_index_ = options_.start_batch;
  thread_ = std::thread([this] { produce(); });
  register_at_exit(this, [this] { stop(); });
}

BatchLoader::~BatchLoader() {
  unregister_at_exit(this);
  stop();
}

void BatchLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  not_full_.notify_all();
  not_empty_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BatchLoader::produce() {
  const int64_t rows = table_->rows, bs = options_.batch_size;
  int64_t start = options_.start_batch;
  for (int64_t epoch = options_.epoch;; ++epoch) {
    std::vector<int64_t> order = epoch_order(rows, options_.shuffle, options_.seed, epoch);
    for (int64_t b = start; b <= batches_per_epoch_; ++b) {
      Item item;
      if (b == batches_per_epoch_) {
        item.end_of_epoch = true;
      } else {
        const int64_t lo = b * bs, hi = std::min(rows, lo + bs), n = hi - lo;
        const int64_t r = options_.shard_rank, k = options_.shard_count;
        std::vector<int64_t> idx(order.begin() + lo + r * n / k, order.begin() + lo + (r + 1) * n / k);
        if (idx.empty()) idx.push_back(order[lo + n - 1]);  // shard_pad: a short final batch
        try {
          item.batch = assemble(*table_, idx, options_.views);
          item.batch.global_size = n;
        } catch (...) {
          item.error = describe_current_exception();
        }
      }
      std::unique_lock<std::mutex> lock(mu_);
      not_full_.wait(lock, [this] { return stop_ || static_cast<int64_t>(queue_.size()) < options_.prefetch; });
      if (stop_) return;
      queue_.push_back(std::move(item));
      not_empty_.notify_one();
    }
    start = 0;
  }
}

bool BatchLoader::next(Batch& out) {
  auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  not_empty_.wait(lock, [this] { return stop_ || !queue_.empty(); });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (queue_.empty()) throw UserError("loader is closed");
  Item item = std::move(queue_.front());
  queue_.pop_front();
  not_full_.notify_one();
  if (item.end_of_epoch) {
    ++next_epoch_;
    next_index_ = 0;
    return false;
  }
  ++next_index_;
  if (!item.error.empty()) throw UserError("loader: " + item.error);
  out = std::move(item.batch);
  return true;
}

int64_t BatchLoader::epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_epoch_;
}
int64_t BatchLoader::batch_index() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_index_;
}
double BatchLoader::take_wait_seconds() {
  std::lock_guard<std::mutex> lock(mu_);
  double w = wait_seconds_;
  wait_seconds_ = 0;
  return w;
}

Batch BatchLoader::assemble(const SampleTable& t, const std::vector<int64_t>& rows,
                            const std::vector<SequenceView>& views) {
  // Plain loops, one thread: the loader must not compete with the training step's torch pool.
  const int64_t B = static_cast<int64_t>(rows.size());
  Batch b;
  b.size = B;
  b.global_size = B;
  b.rows = at::empty({B}, at::kLong);
  std::copy(rows.begin(), rows.end(), b.rows.data_ptr<int64_t>());
  b.label = gather_1d<float, float>(t.label, rows, at::kFloat);
  b.doc = gather_1d<int32_t, int64_t>(t.doc, rows, at::kLong);
  b.user = gather_1d<int32_t, int64_t>(t.user, rows, at::kLong);
  b.query = gather_1d<int32_t, int64_t>(t.query, rows, at::kLong);
  if (t.cold.defined()) b.cold = gather_1d<uint8_t, uint8_t>(t.cold, rows, at::kByte);
  if (t.query_tokens.defined()) {
    const int64_t L = t.query_tokens.size(1);
    b.query_tokens = at::empty({B, L}, at::kLong);
    const int32_t* s = t.query_tokens.data_ptr<int32_t>();
    int64_t* d = b.query_tokens.data_ptr<int64_t>();
    for (int64_t i = 0; i < B; ++i)
      for (int64_t j = 0; j < L; ++j) d[i * L + j] = s[rows[i] * L + j];
  }
  const int64_t C = static_cast<int64_t>(t.categorical.size());
  b.categorical = at::empty({B, C}, at::kLong);
  for (int64_t c = 0; c < C; ++c) {
    const int32_t* s = t.categorical[c].data_ptr<int32_t>();
    int64_t* d = b.categorical.data_ptr<int64_t>();
    for (int64_t i = 0; i < B; ++i) d[i * C + c] = s[rows[i]];
  }
  const int64_t F = static_cast<int64_t>(t.dense.size());
  b.dense = at::empty({B, F}, at::kFloat);
  for (int64_t f = 0; f < F; ++f) {
    const float* s = t.dense[f].data_ptr<float>();
    float* d = b.dense.data_ptr<float>();
    for (int64_t i = 0; i < B; ++i) d[i * F + f] = s[rows[i]];
  }
  for (const auto& v : views) {
    const SequenceColumn& col = t.sequence(v.column);
    const int32_t* off = col.offsets.data_ptr<int32_t>();
    SequenceBatch sb;
    sb.name = v.name;
    sb.offsets = at::empty({B + 1}, at::kLong);
    int64_t* o = sb.offsets.data_ptr<int64_t>();
    o[0] = 0;
    for (int64_t i = 0; i < B; ++i) {
      int64_t len = off[rows[i] + 1] - off[rows[i]];
      if (v.max_length > 0) len = std::min(len, v.max_length);
      o[i + 1] = o[i] + len;
    }
    const int64_t T = o[B];
    sb.ids = at::empty({T}, at::kLong);
    int64_t* ids = sb.ids.data_ptr<int64_t>();
    const int32_t* vals = col.values.data_ptr<int32_t>();
    int64_t* act = nullptr;
    float* age = nullptr;
    if (v.action) {
      sb.action = at::empty({T}, at::kLong);
      act = sb.action.data_ptr<int64_t>();
    }
    if (v.age) {
      sb.age = at::empty({T}, at::kFloat);
      age = sb.age.data_ptr<float>();
    }
    const int32_t* src_act = v.action ? col.action.data_ptr<int32_t>() : nullptr;
    const float* src_age = v.age ? col.age.data_ptr<float>() : nullptr;
    for (int64_t i = 0; i < B; ++i) {
      const int64_t len = o[i + 1] - o[i];
      const int64_t src = off[rows[i] + 1] - len;  // the most recent `len` events
      for (int64_t j = 0; j < len; ++j) {
        ids[o[i] + j] = vals[src + j];
        if (act) act[o[i] + j] = src_act[src + j];
        if (age) age[o[i] + j] = src_age[src + j];
      }
    }
    b.sequences.push_back(std::move(sb));
  }
  // Candidate documents, deduplicated once per batch (sorted unique + inverse).
  std::vector<std::pair<int64_t, int64_t>> pairs(B);
  const int64_t* doc = b.doc.data_ptr<int64_t>();
  for (int64_t i = 0; i < B; ++i) pairs[i] = {doc[i], i};
  std::sort(pairs.begin(), pairs.end());
  std::vector<int64_t> uniq;
  b.doc_inverse = at::empty({B}, at::kLong);
  int64_t* inv = b.doc_inverse.data_ptr<int64_t>();
  for (int64_t i = 0; i < B; ++i) {
    if (uniq.empty() || uniq.back() != pairs[i].first) uniq.push_back(pairs[i].first);
    inv[pairs[i].second] = static_cast<int64_t>(uniq.size()) - 1;
  }
  b.unique_docs = at::empty({static_cast<int64_t>(uniq.size())}, at::kLong);
  std::copy(uniq.begin(), uniq.end(), b.unique_docs.data_ptr<int64_t>());
  return b;
}

}  // namespace lemur::data
