// Index tensors (bank ids, inverse indices): checked on the host before any kernel runs, so a
// bad index is a clear error naming its position, never an out-of-bounds read or a device assert.
#pragma once
#include <ATen/core/Tensor.h>

#include <string>

namespace lemur::ops {

// Checks that `ids` is a 1-D int64 or int32 tensor whose values all lie in [0, n). Returns it as
// contiguous int64 on its device. CPU tensors are scanned; CUDA tensors are checked with one
// min/max reduction (one sync) and, only when that fails, copied back to find the first bad one.
// Messages read "<what>: <name>[i] = v is out of range [0, n)".
at::Tensor checked_ids(const at::Tensor& ids, int64_t n, const std::string& what,
                       const std::string& name);

// Checks a memory bank's written flags: uint8 (or bool) [N] for a bank of N rows, on the
// bank's device. Messages start with `what`.
void check_written(const at::Tensor& written, const at::Tensor& bank, const std::string& what);

// The number of bits needed to hold values in [0, n) (at least 1): the key width to sort on.
int bits_for(int64_t n);

}  // namespace lemur::ops
