#!/usr/bin/env python3
"""The PyTorch peer of lemur's `lemur` preset: trains the same model (lemur_peer/, a port of
native/model/) on a dataset exported by export.mjs, over S seeds, and evaluates on `test`.

  /usr/bin/python3 bench/peer/peer.py --export DIR [--seeds 0,1] [--epochs 1] [--threads N]
        [--device cpu|cuda] [--warmup 20] [--max-steps N] [--log-every 20] [--json out.json] [--check]

--check: build the model and print its parameter counts only.
"""
import argparse
import json
import os
import resource
import sys
import time

sys.dont_write_bytecode = True
# The OpenMP setting lemur applies before loading LibTorch (lib/native.ts): sleeping instead
# of spinning workers. With the default (spinning) every parallel region crawls as soon as
# anything else competes for the cores (44 vs 665 samples/s on a busy 2-core machine). Read
# by libgomp when torch loads, so it is set here, before the import; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from lemur_peer.data import Export  # noqa: E402
from lemur_peer.model import LemurPeer  # noqa: E402
from lemur_peer.trainer import Trainer  # noqa: E402


def build(ex, seed, device):
    torch.manual_seed(seed)  # parameter initialization (and the per-step draws after it)
    c = ex.native
    docs = ex.documents(device, use_images=c["image"] is not None)
    model = LemurPeer(c, docs).to(device)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--export", required=True)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--warmup", type=int, default=20, help="steps left out of the samples/s figure")
    ap.add_argument("--max-steps", type=int, default=None, help="stop each run after this many steps (development)")
    ap.add_argument("--log-every", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    log = lambda *x: print("[peer]", *x, file=sys.stderr, flush=True)
    ex = Export(a.export)
    c, cfg = ex.native, ex.config
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {a.device}: this torch ({torch.__version__}) has no CUDA device")

    seeds = [int(s) for s in str(a.seeds).split(",") if s != ""]
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(dev), "runs": [],
              "ompWaitPolicy": os.environ.get("OMP_WAIT_POLICY"), "openblasThreads": os.environ.get("OPENBLAS_NUM_THREADS")}
    model = build(ex, seeds[0] if seeds else 0, dev)
    result["parameters"] = sum(p.numel() for p in model.dense_parameters())
    result["idTableParameters"] = model.tables.parameter_count()
    log(f"model: {result['parameters']:,} dense parameters, {result['idTableParameters']:,} in ID tables; "
        f"torch {torch.__version__}, {result['threads']} threads, {dev}")
    if not a.check:
        train, test = ex.split("train"), ex.split("test")
        for seed in seeds:
            model = build(ex, seed, dev)
            tr = Trainer(model, c, dev)
            log(f"seed {seed}: training {a.epochs} epoch(s) of {train.rows:,} samples, batch {cfg['train']['batchSize']}")
            fit = tr.fit(train, a.epochs, cfg["train"]["batchSize"], seed, a.warmup, a.log_every, a.max_steps, log)
            t0 = time.perf_counter()
            ev = tr.evaluate(test, cfg["train"]["evalBatchSize"])
            run = {"seed": seed, **fit, "evalSeconds": time.perf_counter() - t0, "evaluation": ev}
            result["runs"].append(run)
            log(f"seed {seed}: {fit['steps']} steps, {fit['samplesPerSecond']:.0f} samples/s; test AUC {ev['all']['auc']:.4f}, "
                f"QAUC {ev['all']['qauc']['mean']:.4f}" + (f", cold-start AUC {ev['coldStart']['auc']:.4f}" if "coldStart" in ev else ""))
    result["maxRssKB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if dev.type == "cuda":
        result["cudaPeakBytes"] = torch.cuda.max_memory_allocated(dev)
    text = json.dumps(result, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
