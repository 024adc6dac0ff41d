// Batches from a sample table, assembled on a background thread and prefetched, in a seeded
// shuffled order (or in order). The model's executor thread takes them with next(), so a
// training step is one native call that includes fetching its batch.
#pragma once
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "data/batch.h"
#include "data/dataset.h"

namespace lemur::data {

// A named view of a sequence column: its most recent `max_length` events.
struct SequenceView {
  std::string name;
  std::string column;
  int64_t max_length = 0;
  bool action = false;  // carry the column's action side info
  bool age = false;     // carry the column's age side info
};

struct LoaderOptions {
  int64_t batch_size = 256;
  bool shuffle = true;
  uint64_t seed = 0;
  int64_t epoch = 0;        // first epoch (its order depends on seed and epoch)
  int64_t start_batch = 0;  // resume inside the first epoch
  bool drop_last = false;
  int64_t prefetch = 4;
  // Data-parallel shard: of every global batch of batch_size rows, rank r of n keeps rows
  // [floor(r B / n), floor((r+1) B / n)): disjoint, deterministic, and every rank takes the
  // same number of steps (a final batch with fewer rows than ranks is dropped on all ranks).
  int64_t shard_rank = 0, shard_count = 1;
  // Evaluation: keep such a final batch; a rank without a row of it takes the batch's last
  // row again (same model on every rank, so the duplicate scores the same).
  bool shard_pad = false;
  std::vector<SequenceView> views;
};

class BatchLoader {
 public:
  BatchLoader(std::shared_ptr<const SampleTable> table, LoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch; false at the end of an epoch (the call after it starts the next epoch).
  // Blocks while the batch is being assembled; the time spent waiting is accumulated.
  bool next(Batch& out);

  int64_t batches_per_epoch() const { return batches_per_epoch_; }
  int64_t rows() const { return table_->rows; }
  // Position of the next batch next() returns: (epoch, index within the epoch).
  int64_t epoch() const;
  int64_t batch_index() const;
  // Time next() spent waiting for the producer since the last call of this function.
  double take_wait_seconds();

  // Assembles the batch of the given rows (used by the producer; public for tests).
  static Batch assemble(const SampleTable& table, const std::vector<int64_t>& rows,
                        const std::vector<SequenceView>& views);

 private:
  struct Item {
    bool end_of_epoch = false;
    Batch batch;
    std::string error;
  };
  void produce();
  void stop();  // ends the producer thread (idempotent)

  std::shared_ptr<const SampleTable> table_;
  LoaderOptions options_;
  int64_t batches_per_epoch_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<Item> queue_;
  bool stop_ = false;
  int64_t next_epoch_, next_index_;  // consumer position
  double wait_seconds_ = 0;
};

}  // namespace lemur::data
