"""Loads a lemur checkpoint (model.pt of a saved Lemur: a torch::serialize archive, which
torch.jit.load reads) into a LemurPeer: every dense parameter by name (the peer's modules
are named as lemur's), the ID tables with their trained flags (and the row-wise optimizer
state), the memory bank. A name or shape that does not match is an error: the check that the
peer has exactly lemur's parameters, module by module."""
import torch


def load_lemur_checkpoint(model, path, sparse_opt=None):
    ck = torch.jit.load(path, map_location="cpu")
    theirs = {n: t for n, t in ck.named_parameters() if not n.startswith(("trainer_", "optimizer."))}
    buffers = dict(ck.named_buffers())
    ours = {n: p for n, p in model.named_parameters() if not n.startswith("tables.")}
    missing = sorted(set(ours) - set(theirs))
    extra = sorted(set(theirs) - set(ours))
    if missing or extra:
        raise ValueError(f"parameter names differ: only in the peer {missing[:10]}, only in lemur {extra[:10]}")
    with torch.no_grad():
        for n, p in ours.items():
            t = theirs[n]
            if tuple(t.shape) != tuple(p.shape):
                raise ValueError(f"{n}: lemur {tuple(t.shape)}, peer {tuple(p.shape)}")
            p.copy_(t)
        for name, emb in model.tables.tables.items():
            w = buffers[f"tables.{name}_weight"]
            if tuple(w.shape) != tuple(emb.weight.shape):
                raise ValueError(f"table {name}: lemur {tuple(w.shape)}, peer {tuple(emb.weight.shape)}")
            emb.weight.copy_(w)
            getattr(model.tables, f"{name}_trained").copy_(buffers[f"tables.{name}_trained"].bool())
            if sparse_opt is not None:
                sparse_opt.v[name].copy_(buffers[f"tables.{name}_v"])
        if model.bank is not None:
            model.bank.rows.copy_(buffers["bank.rows"].to(model.bank.rows.dtype))
            model.bank.written.copy_(buffers["bank.written"].bool())
            model.bank.last_step.copy_(buffers["bank.last_step"])
    return {"parameters": len(ours), "tables": len(model.tables.tables)}
