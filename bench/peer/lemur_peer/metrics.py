"""Ranking metrics as lib/metrics.ts computes them: AUC by ranks (ties share their average
rank), QAUC/UAUC = AUC per query/user averaged over groups with both classes (unweighted and
impression-weighted), log-loss."""
import numpy as np


def auc(scores, labels):
    scores = np.asarray(scores, np.float64)
    pos = np.asarray(labels) > 0.5
    P = int(pos.sum())
    N = len(scores) - P
    if P == 0 or N == 0:
        return float("nan")
    _, inv, counts = np.unique(scores, return_inverse=True, return_counts=True)
    avg_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based average rank of each distinct score
    return float((avg_rank[inv][pos].sum() - P * (P + 1) / 2.0) / (P * N))


def grouped_auc(scores, labels, groups):
    order = np.argsort(groups, kind="stable")
    g = np.asarray(groups)[order]
    bounds = np.flatnonzero(np.diff(g)) + 1
    s_sum = w_sum = w = 0.0
    counted = skipped = 0
    for idx in np.split(order, bounds):
        a = auc(scores[idx], labels[idx])
        if np.isnan(a):
            skipped += 1
            continue
        counted += 1
        s_sum += a
        w_sum += a * len(idx)
        w += len(idx)
    return {"mean": s_sum / counted if counted else float("nan"), "weighted": w_sum / w if w else float("nan"), "groups": counted, "skipped": skipped}


def log_loss(probs, labels):
    p = np.clip(np.asarray(probs, np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(labels) > 0.5
    return float(np.mean(np.where(y, -np.log(p), -np.log(1 - p)))) if len(p) else float("nan")


def ranking_metrics(scores, labels, query, user):
    return {
        "n": int(len(scores)),
        "positives": int((np.asarray(labels) > 0.5).sum()),
        "auc": auc(scores, labels),
        "qauc": grouped_auc(scores, labels, query),
        "uauc": grouped_auc(scores, labels, user),
        "logLoss": log_loss(scores, labels),
    }
