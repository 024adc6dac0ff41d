// Rows of every rank concatenated, with a backward: the gradient of the gathered tensor is
// summed over ranks and each rank keeps the slice of its own rows (what PyTorch's
// torch.distributed.nn.all_gather does). Used for SQDC's global negatives: every rank
// computes the same world-wide contrast, and after the gradient average across ranks the
// encoders receive exactly the gradient of one process holding the whole batch.
#pragma once
#include <ATen/core/Tensor.h>

#include "distributed/process_group.h"

namespace lemur::dist {

at::Tensor all_gather_with_grad(ProcessGroup& group, const at::Tensor& rows, const std::string& what);

// All-to-all of rows (see ProcessGroup::alltoall_rows) with a backward: the gradient of the
// received rows goes back to their senders. Every rank must take part in the backward too,
// so callers keep the received rows in the loss's graph on every rank.
at::Tensor alltoall_with_grad(ProcessGroup& group, const at::Tensor& rows, const std::vector<int64_t>& send_counts,
                              const std::vector<int64_t>& recv_counts, const std::string& what);

}  // namespace lemur::dist
