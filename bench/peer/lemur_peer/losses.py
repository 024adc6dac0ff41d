"""Losses (port of native/model/losses.cpp): BCE on the logit, and SQDC: in-batch
query-document contrastive loss over the positive rows, temperature T, with other rows of
the same query removed from the negatives."""
import torch
import torch.nn.functional as F

from .layers import l2_normalize


def bce_loss(logits, labels):
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float())


def sqdc_loss(q, d, labels, query_ids, temperature, same_query_mask=True):
    pos = (labels > 0.5).nonzero().squeeze(1)
    if pos.numel() < 2:
        return (q.sum() + d.sum()).float() * 0.0
    qp = l2_normalize(q[pos].float())
    dp = l2_normalize(d[pos].float())
    logits = qp @ dp.t() * temperature  # [P, P]
    if same_query_mask:
        qid = query_ids[pos]
        same = qid[:, None].eq(qid[None, :])
        eye = torch.eye(pos.numel(), dtype=torch.bool, device=q.device)
        logits = logits.masked_fill(same & ~eye, -1e9)
    return F.cross_entropy(logits, torch.arange(pos.numel(), device=q.device))
