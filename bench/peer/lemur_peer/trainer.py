"""Training and evaluation (port of native/model/trainer.cpp and lemur's fit/evaluate).

Dense parameters: torch.optim.AdamW with four groups: (other, encoders) x (weight decay for
tensors with >= 2 dims, none for the rest); lr optim.lr for the others, optim.encoderLr for
the content encoders and the request tower; linear warm-up over optim.warmupSteps (the scale
min(1, (step + 1) / warmup) also multiplies the sparse lr); gradients of the dense parameters
clipped to optim.clipNorm. ID tables: RowWiseSparseOptimizer. bf16 autocast on CUDA when
config.bf16. Loss: BCE + sqdcWeight * SQDC.
"""
import contextlib
import time

import numpy as np
import torch

from .embedding import RowWiseSparseOptimizer
from .losses import bce_loss, sqdc_loss
from .metrics import ranking_metrics


class Trainer:
    def __init__(self, model, c, device):
        self.model, self.c, self.device = model, c, device
        o = c["optim"]
        groups = []
        for params, lr in ((model.other_parameters(), o["lr"]), (model.encoder_parameters(), o["encoderLr"])):
            decay = [p for p in params if p.dim() >= 2]
            no_decay = [p for p in params if p.dim() < 2]
            groups.append({"params": decay, "lr": lr, "base_lr": lr, "weight_decay": o["weightDecay"]})
            groups.append({"params": no_decay, "lr": lr, "base_lr": lr, "weight_decay": 0.0})
        groups = [g for g in groups if g["params"]]
        self.opt = torch.optim.AdamW(groups, lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"])
        self.sparse = RowWiseSparseOptimizer(model.tables, o["sparse"], o["sparseLr"], o["sparseEps"], o["beta1"], o["beta2"])
        self.dense_params = model.dense_parameters()
        self.step = 0
        self.cuda = torch.device(device).type == "cuda"
        self.autocast = self.cuda and c.get("bf16", False)

    def amp(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.autocast else contextlib.nullcontext()

    def lr_scale(self):
        w = self.c["optim"]["warmupSteps"]
        return min(1.0, (self.step + 1) / w) if w > 0 else 1.0

    def train_step(self, b):
        m, c = self.model, self.c
        m.train()
        counts0 = m.bank.counts.clone() if m.bank is not None else None
        with self.amp():
            out = m(b, self.step)
            bce = bce_loss(out["logits"], b["label"])
            sqdc = None
            if out["q"] is not None and c["loss"]["sqdcWeight"] > 0:
                sqdc = sqdc_loss(out["q"], out["d"], b["label"], b["query"], c["loss"]["temperature"], c["loss"]["sameQueryMask"])
            loss = bce + c["loss"]["sqdcWeight"] * sqdc if sqdc is not None else bce
        self.opt.zero_grad(set_to_none=True)
        self.sparse.zero_grad()
        loss.backward()
        zero = torch.zeros((), dtype=torch.float64, device=loss.device)
        cov = (m.bank.counts - counts0).double() if counts0 is not None else torch.zeros(4, dtype=torch.float64, device=loss.device)
        # one host sync for the step's figures (as lemur): losses and the bank lookups/hits
        figures = torch.cat([torch.stack([loss.detach().double(), bce.detach().double(), sqdc.detach().double() if sqdc is not None else zero]), cov]).tolist()
        if not np.isfinite(figures[0]):
            raise RuntimeError(f"training step {self.step + 1}: the loss is {figures[0]}")
        if out["deferred_write"] is not None:
            m.bank.write(*out["deferred_write"], self.step)
        if c["optim"]["clipNorm"] > 0:
            torch.nn.utils.clip_grad_norm_([p for p in self.dense_params if p.grad is not None], c["optim"]["clipNorm"])
        scale = self.lr_scale()
        for g in self.opt.param_groups:
            g["lr"] = g["base_lr"] * scale
        self.opt.step()
        self.sparse.step(scale)
        if self.cuda:
            torch.cuda.synchronize()
        self.step += 1
        ratio = lambda hits, n: hits / n if n else float("nan")
        return {"loss": figures[0], "bce": figures[1], "sqdc": figures[2], "samples": b["size"],
                "coverage": (ratio(figures[4], figures[3]), ratio(figures[6], figures[5]))}

    def fit(self, split, epochs, batch_size, seed, warmup_steps=20, log_every=0, max_steps=None, log=print):
        """Trains for `epochs` epochs of `split` (a data.Split), shuffled per epoch. Returns the
        per-step losses and the steady-state throughput (the steps after `warmup_steps`; each
        step timed from its batch assembly to the end of its update)."""
        steps, seconds = [], []
        t_all = time.perf_counter()
        for epoch in range(epochs):
            order = np.random.default_rng([seed, epoch]).permutation(split.rows)
            for lo in range(0, split.rows, batch_size):
                if max_steps is not None and len(steps) >= max_steps:
                    break
                t0 = time.perf_counter()
                b = split.batch(order[lo : lo + batch_size], self.device)
                st = self.train_step(b)
                seconds.append(time.perf_counter() - t0)
                steps.append(st)
                if log_every and len(steps) % log_every == 0:
                    w = steps[-log_every:]
                    log(f"  step {len(steps)}: loss {np.mean([s['loss'] for s in w]):.4f} "
                        f"(bce {np.mean([s['bce'] for s in w]):.4f}, sqdc {np.mean([s['sqdc'] for s in w]):.3f}), "
                        f"{sum(s['samples'] for s in w) / sum(seconds[-log_every:]):.0f} samples/s")
        steady = slice(min(warmup_steps, max(len(steps) - 1, 0)), None)
        n = sum(s["samples"] for s in steps[steady])
        t = sum(seconds[steady])
        return {
            "steps": len(steps),
            "loss": [s["loss"] for s in steps],
            "bce": [s["bce"] for s in steps],
            "sqdc": [s["sqdc"] for s in steps],
            "samplesPerSecond": n / t if t > 0 else float("nan"),
            "steadySteps": len(steps[steady]),
            "trainSeconds": time.perf_counter() - t_all,
            # mean over steps of each step's coverage (as lemur's per-step progress reports)
            "bankCoverage": {"target": float(np.nanmean([s["coverage"][0] for s in steps])) if steps else float("nan"),
                             "history": float(np.nanmean([s["coverage"][1] for s in steps])) if steps else float("nan")},
        }

    @torch.no_grad()
    def predict(self, split, batch_size):
        m = self.model
        m.eval()
        scores = np.zeros(split.rows, np.float32)
        for lo in range(0, split.rows, batch_size):
            rows = np.arange(lo, min(lo + batch_size, split.rows))
            with self.amp():
                logits = m(split.batch(rows, self.device), self.step)["logits"]
            scores[rows] = torch.sigmoid(logits.float()).cpu().numpy()
        return scores

    def evaluate(self, split, batch_size):
        scores = self.predict(split, batch_size)
        ev = {"all": ranking_metrics(scores, split.label, split.query, split.user)}
        if split.cold is not None:
            cold = np.nonzero(split.cold)[0]
            warm = np.nonzero(split.cold == 0)[0]
            if len(cold):
                ev["coldStart"] = ranking_metrics(scores[cold], split.label[cold], split.query[cold], split.user[cold])
            if len(warm):
                ev["warm"] = ranking_metrics(scores[warm], split.label[warm], split.query[warm], split.user[warm])
        return ev
