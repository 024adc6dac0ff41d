#!/usr/bin/env python3
"""The peer's side of parity.mjs: from lemur's step-0 checkpoint, one training step on the
whole train split (lemur's one batch there), compared with lemur's step-1 checkpoint; then
the test scores of lemur's step-1 weights, compared row by row. Prints a report, exits 1 when
something is off by more than the tolerances (float rounding between kernels; AdamW's first
update is lr * g / (|g| + eps), so an element with a gradient near zero may differ)."""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lemur_peer.checkpoint import load_lemur_checkpoint  # noqa: E402
from lemur_peer.data import Export  # noqa: E402
from lemur_peer.model import LemurPeer  # noqa: E402
from lemur_peer.trainer import Trainer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    for k in ("--export", "--step0", "--step1", "--lemur-step", "--lemur-scores"):
        ap.add_argument(k, required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ex = Export(a.export)
    c = ex.native
    docs = ex.documents("cpu", c["image"] is not None)
    log = lambda *x: print("[parity]", *x, file=sys.stderr, flush=True)

    # 1. one training step from lemur's step-0 state, on the whole train split
    m = LemurPeer(c, docs)
    tr = Trainer(m, c, "cpu")
    load_lemur_checkpoint(m, a.step0, tr.sparse)
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    train = ex.split("train")
    st = tr.train_step(train.batch(np.arange(train.rows), "cpu"))
    lemur_step = json.load(open(a.lemur_step))
    ref = LemurPeer(c, docs)
    load_lemur_checkpoint(ref, a.step1)
    after_lemur = dict(ref.named_parameters())
    num = den = 0.0
    worst = (0.0, "")
    for n, p in m.named_parameters():
        d_peer = (p.detach() - before[n]).double()
        d_lemur = (after_lemur[n].detach() - before[n]).double()
        num += (d_peer - d_lemur).pow(2).sum().item()
        den += d_lemur.pow(2).sum().item()
        rel = ((d_peer - d_lemur).norm() / d_lemur.norm().clamp_min(1e-30)).item()
        if rel > worst[0]:
            worst = (rel, n)
    bank_diff = (m.bank.rows - ref.bank.rows).abs().max().item() if m.bank is not None else 0.0
    bank_same_rows = bool((m.bank.written == ref.bank.written).all()) if m.bank is not None else True
    trained_same = all(bool((getattr(m.tables, f"{n}_trained") == getattr(ref.tables, f"{n}_trained")).all()) for n in m.tables.tables)
    res = {
        "trainRows": train.rows,
        "loss": {"lemur": lemur_step["loss"], "peer": st["loss"], "bceLemur": lemur_step["bce"], "bcePeer": st["bce"], "sqdcLemur": lemur_step["sqdc"], "sqdcPeer": st["sqdc"]},
        "updateRelativeError": (num / den) ** 0.5 if den > 0 else 0.0,
        "worstParameter": {"name": worst[1], "relativeError": worst[0]},
        "bankMaxAbsDiff": bank_diff,
        "bankSameRowsWritten": bank_same_rows,
        "tablesSameRowsTrained": trained_same,
    }

    # 2. test scores of lemur's step-1 weights
    tr_ref = Trainer(ref, c, "cpu")
    ref.eval()
    scores = tr_ref.predict(ex.split("test"), ex.config["train"]["evalBatchSize"])
    lemur_scores = np.fromfile(a.lemur_scores, np.float32)
    res["testScores"] = {"rows": int(len(scores)), "maxAbsDiff": float(np.abs(scores - lemur_scores).max()), "meanAbsDiff": float(np.abs(scores - lemur_scores).mean())}

    ok = (abs(res["loss"]["lemur"] - res["loss"]["peer"]) < 1e-4 and res["updateRelativeError"] < 1e-2 and res["bankMaxAbsDiff"] < 1e-4
          and bank_same_rows and trained_same and res["testScores"]["maxAbsDiff"] < 1e-4)
    res["ok"] = ok
    log(f"one step on {train.rows} rows: loss lemur {res['loss']['lemur']:.6f}, peer {res['loss']['peer']:.6f}; "
        f"parameter updates: relative L2 error {res['updateRelativeError']:.2e} (worst {worst[1]}: {worst[0]:.2e}); "
        f"bank rows written: max |diff| {bank_diff:.1e}, same rows {bank_same_rows}; ID rows trained: same {trained_same}")
    log(f"test scores of lemur's step-1 weights ({len(scores)} rows): max |diff| {res['testScores']['maxAbsDiff']:.1e}, "
        f"mean {res['testScores']['meanAbsDiff']:.1e} -> {'OK' if ok else 'MISMATCH'}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
