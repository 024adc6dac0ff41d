"""The memory bank (port of native/model/memory_bank.cpp): the latest embedding of every
document, a written flag and the step of the last write. Plain buffers, `index_copy_` to
write, `index_select` to read (no gradient); a never-written row reads as zeros and is
reported absent (masked out of attention)."""
import torch
import torch.nn as nn


class MemoryBank(nn.Module):
    def __init__(self, num_documents, dim, dtype=torch.float32):
        super().__init__()
        self.register_buffer("rows", torch.zeros(num_documents, dim, dtype=dtype))
        self.register_buffer("written", torch.zeros(num_documents, dtype=torch.bool))
        self.register_buffer("last_step", torch.full((num_documents,), -1, dtype=torch.long))
        # coverage counters on the device (no host sync per step): target lookups/hits, history lookups/hits
        self.register_buffer("counts", torch.zeros(4, dtype=torch.long), persistent=False)

    @torch.no_grad()
    def write(self, ids, vectors, step):
        if ids.numel() == 0:
            return
        self.rows.index_copy_(0, ids, vectors.detach().to(self.rows.dtype))
        self.written[ids] = True
        self.last_step[ids] = step

    @torch.no_grad()
    def read(self, ids):
        """ids [...] int64 -> rows [..., dim] float32 (zeros for misses), present [...] bool."""
        flat = ids.reshape(-1)
        rows = self.rows.index_select(0, flat).float().view(*ids.shape, -1)
        return rows, self.written.index_select(0, flat).view(ids.shape)

    @torch.no_grad()
    def count(self, present, target, valid=None):
        base = 0 if target else 2
        if valid is None:
            self.counts[base] += present.numel()
            self.counts[base + 1] += present.sum()
        else:
            self.counts[base] += valid.sum()
            self.counts[base + 1] += (present & valid).sum()

    def coverage(self):
        """(target coverage, history coverage) since the start."""
        c = self.counts.tolist()
        return (c[1] / c[0] if c[0] else float("nan"), c[3] / c[2] if c[2] else float("nan"))
