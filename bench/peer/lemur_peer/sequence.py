"""Sequence modules (port of native/model/sequence_modules.cpp) over padded histories.

A history view arrives as ids [B, L] (each row oldest first, newest last, left-aligned),
valid [B, L] bool, and optional per-event side info action [B, L] int64 / age [B, L] float.
  - SequenceDecoder: LEMUR's multimodal decoder: query tokens generated from the context
    cross-attend over the history's memory-bank rows (misses masked).
  - IdSequenceEncoder ('longer'): G global tokens + the k most recent events attend over all
    events (first layer), then self-attend (further layers); output: the G global tokens and
    the mean of the recent ones.
  - Similarity: cosine(target, each of the K most recent events, newest first; 0 for misses
    and absent positions), then the K highest cosines over all known events of the view,
    descending (0 where fewer than K); with the view's action side info, also a learned value
    of the action of each of those top-K events.
"""
import torch
import torch.nn as nn

from .layers import AttentionBlock, l2_normalize


class SideInfo(nn.Module):
    """Per-event side info (action type embedding, age projection) added to the events."""

    def __init__(self, width, action_types, action, age):
        super().__init__()
        # small initial side info (lemur: N(0, 0.02) weights, zero bias): it is added to
        # unit-norm bank rows, which torch's default inits would drown at the start
        self.action_emb = nn.Embedding(action_types, width) if action else None
        self.age_proj = nn.Linear(1, width) if age else None
        if action:
            nn.init.normal_(self.action_emb.weight, 0.0, 0.02)
        if age:
            nn.init.normal_(self.age_proj.weight, 0.0, 0.02)
            nn.init.zeros_(self.age_proj.bias)

    def forward(self, events, action=None, age=None):
        out = events
        if self.action_emb is not None and action is not None:
            out = out + self.action_emb(action.clamp(0, self.action_emb.num_embeddings - 1))
        if self.age_proj is not None and age is not None:
            out = out + self.age_proj(age.unsqueeze(-1).to(events.dtype))
        return out


class SequenceDecoder(nn.Module):
    def __init__(self, dec, seq, context_dim, bank_dim, action_types):
        super().__init__()
        self.queries, self.width = dec["queries"], dec["width"]
        self.query_gen = nn.Linear(context_dim, self.queries * self.width)
        self.blocks = nn.ModuleList([AttentionBlock(self.width, bank_dim, dec["heads"], dec["ffnMult"]) for _ in range(dec["layers"])])
        self.side_info = SideInfo(bank_dim, action_types, seq["action"], seq["age"]) if (seq["action"] or seq["age"]) else None
        # decoder.memoryNorm: LayerNorm over each history row (with its side info)
        self.memory_ln = nn.LayerNorm(bank_dim) if dec.get("memoryNorm", False) else None

    def forward(self, context, rows, mask, action=None, age=None):
        """context [B, C]; rows [B, L, e] (bank rows of the events); mask [B, L] (valid and
        present) -> [B, queries, width]."""
        B = context.shape[0]
        q = self.query_gen(context).view(B, self.queries, self.width)
        memory = rows if self.side_info is None else self.side_info(rows, action, age)
        if self.memory_ln is not None:
            memory = self.memory_ln(memory)
        for block in self.blocks:
            q = block(q, memory, mask)
        return q


class IdSequenceEncoder(nn.Module):
    def __init__(self, cfg, mode, item_dim, context_dim, seq, action_types):
        super().__init__()
        if mode != "longer":
            raise NotImplementedError(f"the peer ports the 'longer' ID-sequence encoder only (got '{mode}')")
        W = cfg["width"]
        self.G, self.recent, self.W = cfg["globalTokens"], cfg["recent"], W
        self.item_proj = nn.Linear(item_dim, W)
        self.item_ln = nn.LayerNorm(W)
        self.global_gen = nn.Linear(context_dim, self.G * W)
        self.blocks = nn.ModuleList([AttentionBlock(W, W, cfg["heads"], cfg["ffnMult"]) for _ in range(cfg["layers"])])
        self.side_info = SideInfo(W, action_types, seq["action"], seq["age"]) if (seq["action"] or seq["age"]) else None

    def output_tokens(self):
        return self.G + 1

    def forward(self, context, items, valid, action=None, age=None):
        """items [B, L, item_dim] (ID embeddings of the events), valid [B, L] -> [B, G + 1, W]."""
        B, L, _ = items.shape
        x = self.item_proj(items)
        if self.side_info is not None:
            x = self.side_info(x, action, age)
        x = self.item_ln(x)
        glob = self.global_gen(context).view(B, self.G, self.W)
        # the k most recent events of each row (positions len-k .. len-1; absent when < 0)
        k = self.recent
        lengths = valid.sum(1)
        pos = lengths[:, None] - k + torch.arange(k, device=items.device)[None]
        r_valid = pos >= 0
        recent = x.gather(1, pos.clamp(0, max(L - 1, 0))[..., None].expand(B, k, self.W)) if L > 0 else x.new_zeros(B, k, self.W)
        q = torch.cat([glob, recent], 1)
        q_mask = torch.cat([torch.ones(B, self.G, dtype=torch.bool, device=items.device), r_valid], 1)
        for i, block in enumerate(self.blocks):
            q = block(q, x, valid) if i == 0 else block.forward_self(q, q_mask)
        g_out = q[:, : self.G]
        m = r_valid.unsqueeze(-1).to(q.dtype)
        r_out = (q[:, self.G :] * m).sum(1) / m.sum(1).clamp_min(1.0)  # zeros for an empty history
        return torch.cat([g_out, r_out[:, None]], 1)


NONE = -1e4  # below any cosine: unknown events and padding sort last


class Similarity(nn.Module):
    def __init__(self, k, action_types, action):
        super().__init__()
        self.k = k
        self.action_value = None
        if action:
            self.action_value = nn.Embedding(action_types, 1)
            nn.init.zeros_(self.action_value.weight)  # starts as plain similarity features

    def features(self):
        return (2 if self.action_value is None else 3) * self.k

    def forward(self, target, rows, present, lengths, action=None):
        """target [B, e] (unit norm); rows [B, L, e] and present [B, L] (valid and known);
        lengths [B] -> [B, 2k] (or [B, 3k] with action values)."""
        B, L, e = rows.shape
        k = self.k
        cos = (l2_normalize(rows.to(target.dtype)) * target[:, None]).sum(-1) * present.to(target.dtype)  # [B, L]
        # the k newest events, newest first
        pos = lengths[:, None] - 1 - torch.arange(k, device=rows.device)[None]
        ok = pos >= 0
        cos_p = cos if L >= k else torch.cat([cos, cos.new_zeros(B, k - L)], 1)
        recent = cos_p.gather(1, pos.clamp_min(0)) * ok.to(cos.dtype)
        # the k highest cosines over every known event
        dense = torch.where(present, cos, torch.full_like(cos, NONE))
        if L < k:
            dense = torch.cat([dense, dense.new_full((B, k - L), NONE)], 1)
        top_values, top_cols = dense.topk(k, 1, largest=True, sorted=True)
        known = top_values > NONE / 2
        out = [recent, torch.where(known, top_values, torch.zeros_like(top_values))]
        if self.action_value is not None and action is not None:
            a = action if L >= k else torch.cat([action, action.new_zeros(B, k - L)], 1)
            act = a.gather(1, top_cols).clamp(0, self.action_value.num_embeddings - 1)
            out.append(self.action_value(act).squeeze(-1) * known.to(cos.dtype))
        return torch.cat(out, 1)
