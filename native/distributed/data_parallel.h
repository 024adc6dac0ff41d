// Data-parallel training over a ProcessGroup, stage by stage (dense gradients: see
// gradient_reducer.h): what each piece of the model
// state needs so that every rank holds the same model after every step, and that the step
// equals one process training on the whole global batch (dense gradients averaged; ID-table
// rows summed before the row-wise optimizer; memory-bank writes applied on every rank).
// Tables and bank are replicated here: each rank holds every row.
#pragma once
#include <torch/nn/module.h>

#include "distributed/process_group.h"
#include "model/embedding_tables.h"
#include "model/memory_bank.h"

namespace lemur::dist {

// Sums the gradients of the ID-table rows every rank touched this step, divided by the world
// size, and hands the union of rows to the row-wise optimizer of every rank.
void average_table_gradients(ProcessGroup& group, model::EmbeddingTablesImpl& tables);

// Writes every rank's rows into every rank's bank (rank order: for an id written by several
// ranks the last rank's row wins, as the last occurrence does in one process).
void write_bank_everywhere(ProcessGroup& group, model::MemoryBankImpl& bank, const at::Tensor& ids,
                           const at::Tensor& rows, int64_t step);

// Rank 0's parameters and buffers (tables and bank included) copied to every rank, except
// `keep` (each rank's own shard of a sharded table).
void broadcast_module(ProcessGroup& group, torch::nn::Module& module, const std::vector<at::Tensor>& keep = {});

}  // namespace lemur::dist
