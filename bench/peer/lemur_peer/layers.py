"""Building blocks (port of native/model/layers.cpp), written over padded tensors.

lemur keeps every sequence ragged (packed rows + offsets) and runs its own attention kernels;
here every sequence is a padded [B, L, W] tensor with a boolean key mask [B, L], and attention
is plain matmul + masked softmax. A query whose keys are all masked gets a zero context (as
lemur's ragged kernels give), so the output projection's bias is what it returns.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def l2_normalize(x):
    """x / ||x|| along the last dim (zero rows stay zero)."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


class FeedForward(nn.Module):
    """Linear -> GELU -> Linear."""

    def __init__(self, d_in, hidden, d_out):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, d_out)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


def masked_attention(q, k, v, key_mask, scale):
    """q [B, H, Nq, D], k [B, H, L, D], v [B, H, L, Dv], key_mask [B, L] bool (True = attend)
    or None -> [B, H, Nq, Dv]. Rows with no key left give zeros (and zero gradients)."""
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if key_mask is None:
        return torch.matmul(F.softmax(scores, dim=-1), v)
    m = key_mask[:, None, None, :]
    # a finite fill (not -inf): a fully masked row stays finite, and is zeroed by `* m`
    scores = scores.masked_fill(~m, torch.finfo(scores.dtype).min)
    p = F.softmax(scores, dim=-1) * m.to(scores.dtype)
    return torch.matmul(p, v)


class MultiHeadAttention(nn.Module):
    """Queries [B, Nq, Wq] over memory [B, L, Wm] (key-padding mask [B, L]) -> [B, Nq, Wq].
    As in lemur, the key and value projections have no bias (lemur needs that to attend
    straight over bank rows; a user writing this would keep it to have the same model)."""

    def __init__(self, q_width, mem_width, heads):
        super().__init__()
        assert q_width % heads == 0, f"attention width {q_width} is not divisible by heads {heads}"
        self.heads, self.head_dim = heads, q_width // heads
        self.wq = nn.Linear(q_width, q_width)
        self.wk = nn.Linear(mem_width, q_width, bias=False)
        self.wv = nn.Linear(mem_width, q_width, bias=False)
        self.wo = nn.Linear(q_width, q_width)

    def forward(self, q, memory, key_mask=None):
        B, Nq, _ = q.shape
        L = memory.shape[1]
        H, D = self.heads, self.head_dim
        qh = self.wq(q).view(B, Nq, H, D).transpose(1, 2)
        kh = self.wk(memory).view(B, L, H, D).transpose(1, 2)
        vh = self.wv(memory).view(B, L, H, D).transpose(1, 2)
        ctx = masked_attention(qh, kh, vh, key_mask, 1.0 / math.sqrt(D))
        return self.wo(ctx.transpose(1, 2).reshape(B, Nq, H * D))


class AttentionBlock(nn.Module):
    """Pre-LN residual block: attention, then FFN (the unit of the LEMUR decoder and LONGER)."""

    def __init__(self, q_width, mem_width, heads, ffn_mult):
        super().__init__()
        self.ln_q = nn.LayerNorm(q_width)
        self.ln_ffn = nn.LayerNorm(q_width)
        self.attn = MultiHeadAttention(q_width, mem_width, heads)
        self.ffn = FeedForward(q_width, ffn_mult * q_width, q_width)

    def ffn_residual(self, x):
        return x + self.ffn(self.ln_ffn(x))

    def forward(self, q, memory, key_mask=None):
        return self.ffn_residual(q + self.attn(self.ln_q(q), memory, key_mask))

    def forward_self(self, x, key_mask=None):
        n = self.ln_q(x)
        return self.ffn_residual(x + self.attn(n, n, key_mask))


class MlpHead(nn.Module):
    """[in] -> hidden... (ReLU) -> 1 logit."""

    def __init__(self, d_in, hidden):
        super().__init__()
        dims = [d_in] + list(hidden)
        self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])] + [nn.Linear(dims[-1], 1)])

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers):
                x = F.relu(x)
        return x.squeeze(-1)
