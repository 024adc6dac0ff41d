"""Hashed ID embedding tables and their row-wise sparse optimizer (port of
native/model/embedding_tables.cpp).

One `nn.Embedding(rows, dim, sparse=True)` per table (user, doc, each categorical field,
each document categorical field), initialized N(0, 0.01^2). ids >= rows are hashed into the
table. The tables produce sparse (COO) gradients; `RowWiseSparseOptimizer` applies lemur's
row-wise Adagrad (one accumulator per row: the running sum of the row gradient's *mean*
square, lr 0.05 times the warm-up scale) or row-wise lazy Adam to the touched rows only.
torch.optim.Adagrad / SparseAdam are element-wise, not row-wise, so a user matching lemur
writes this ~20-line optimizer by hand. A row that was never touched in training reads as
zeros outside training ("unknown" rather than its random init).
"""
import torch
import torch.nn as nn


class IdEmbeddings(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.tables = nn.ModuleDict()
        self.index = {}

    def add_table(self, name, rows):
        rows = max(int(rows), 1)
        emb = nn.Embedding(rows, self.dim, sparse=True)
        with torch.no_grad():
            emb.weight.copy_(torch.randn(rows, self.dim) * 0.01)
        self.index[name] = len(self.tables)
        self.tables[name] = emb
        self.register_buffer(f"{name}_trained", torch.zeros(rows, dtype=torch.bool))
        return name

    def hash(self, name, ids):
        rows = self.tables[name].num_embeddings
        mixed = (ids * 2654435761 + self.index[name] * 40503) % rows
        return torch.where(ids < rows, ids, mixed)

    def forward(self, name, ids):
        h = self.hash(name, ids.long())
        e = self.tables[name](h)
        if not self.training:
            e = e * getattr(self, f"{name}_trained")[h].unsqueeze(-1).to(e.dtype)
        return e

    def parameter_count(self):
        return sum(t.weight.numel() for t in self.tables.values())


class RowWiseSparseOptimizer:
    """Row-wise Adagrad ('adagrad') or lazy row-wise Adam ('adam') on sparse embedding grads."""

    def __init__(self, tables: IdEmbeddings, kind="adagrad", lr=0.05, eps=1e-8, beta1=0.9, beta2=0.999):
        assert kind in ("adagrad", "adam"), kind
        self.tables, self.kind, self.lr, self.eps, self.beta1, self.beta2 = tables, kind, lr, eps, beta1, beta2
        self.v = {n: torch.zeros(t.num_embeddings, device=t.weight.device) for n, t in tables.tables.items()}
        self.m = {n: torch.zeros_like(t.weight) for n, t in tables.tables.items()} if kind == "adam" else {}

    def zero_grad(self):
        for t in self.tables.tables.values():
            t.weight.grad = None

    def grad_square_sum(self):
        s = 0.0
        for t in self.tables.tables.values():
            if t.weight.grad is not None:
                s = s + t.weight.grad.coalesce().values().double().pow(2).sum()
        return s

    @torch.no_grad()
    def step(self, lr_scale=1.0):
        lr = self.lr * lr_scale
        for name, t in self.tables.tables.items():
            g = t.weight.grad
            if g is None:
                continue
            g = g.coalesce()  # repeated ids of one step: their gradients summed
            rows, vals = g.indices()[0], g.values().float()
            getattr(self.tables, f"{name}_trained")[rows] = True
            w, v = t.weight, self.v[name]
            if self.kind == "adagrad":
                acc = v[rows] + vals.pow(2).mean(1)
                v[rows] = acc
                w[rows] -= (vals * (lr / (acc.sqrt() + self.eps)).unsqueeze(1)).to(w.dtype)
            else:
                m = self.m[name]
                m_new = m[rows] * self.beta1 + vals * (1 - self.beta1)
                v_new = v[rows] * self.beta2 + vals.pow(2).mean(1) * (1 - self.beta2)
                m[rows], v[rows] = m_new, v_new
                w[rows] -= (m_new * (lr / (v_new.sqrt() + self.eps)).unsqueeze(1)).to(w.dtype)
