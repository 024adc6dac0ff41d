"""The exported dataset (bench/peer/export.mjs: .npy files + meta.json) and batch assembly
(port of native/data/batch_loader.cpp): each sample's most recent `maxLength` events per
sequence view, padded to the longest in the batch (lemur keeps them ragged); candidate
documents deduplicated per batch (sorted unique + inverse)."""
import json
import os

import numpy as np
import torch


class Export:
    def __init__(self, folder):
        self.folder = folder
        with open(os.path.join(folder, "meta.json")) as f:
            self.meta = json.load(f)
        self.native = self.meta["native"]  # what lemur's native model receives
        self.config = self.meta["config"]  # the resolved lemur configuration
        self._cache = {}

    def has(self, key):
        return key in self.meta["files"]

    def array(self, key):
        if key not in self._cache:
            self._cache[key] = np.load(os.path.join(self.folder, self.meta["files"][key]["file"]))
        return self._cache[key]

    def documents(self, device, use_images):
        """Document content as tensors on `device`: tokens [N, L] int64, images [N, H, W, C]
        uint8 or None, has_image [N] bool or None, categorical [N, C] int64."""
        d = self.meta["documents"]
        tokens = torch.from_numpy(self.array("documents.tokens").astype(np.int64)).to(device)
        images = has_image = None
        if use_images and self.has("documents.images"):
            images = torch.from_numpy(self.array("documents.images")).to(device)
            has_image = torch.from_numpy(self.array("documents.hasImage").astype(bool)).to(device)
        cats = [self.array(f"documents.cat.{n}").astype(np.int64) for n in d["categorical"]]
        cat = torch.from_numpy(np.stack(cats, 1) if cats else np.zeros((d["rows"], 0), np.int64)).to(device)
        return tokens, images, has_image, cat

    def split(self, name):
        return Split(self, name)


class Split:
    def __init__(self, ex: Export, name):
        self.name = name
        p = f"{name}."
        info = ex.meta["samples"][name]
        self.rows = ex.meta["splits"][name]
        self.label = ex.array(p + "label")
        self.doc = ex.array(p + "doc").astype(np.int64)
        self.user = ex.array(p + "user").astype(np.int64)
        self.query = ex.array(p + "query").astype(np.int64)
        self.cold = ex.array(p + "coldStart") if ex.has(p + "coldStart") else None
        self.query_tokens = ex.array(p + "queryTokens").astype(np.int64) if ex.has(p + "queryTokens") else None
        cats = [ex.array(f"{p}cat.{n}").astype(np.int64) for n in info["categorical"]]
        self.categorical = np.stack(cats, 1) if cats else np.zeros((self.rows, 0), np.int64)
        dense = [ex.array(f"{p}dense.{n}") for n in info["dense"]] if ex.native["dense"] > 0 else []
        self.dense = np.stack(dense, 1).astype(np.float32) if dense else np.zeros((self.rows, 0), np.float32)
        self.columns = {}
        for s in info["sequences"]:
            c = f"{p}seq.{s['name']}"
            self.columns[s["name"]] = {
                "offsets": ex.array(c + ".offsets").astype(np.int64),
                "values": ex.array(c + ".values").astype(np.int64),
                "action": ex.array(c + ".action").astype(np.int64) if ex.has(c + ".action") else None,
                "age": ex.array(c + ".age") if ex.has(c + ".age") else None,
            }
        self.views = ex.native["sequences"]  # name, column, maxLength, action, age, ...

    def batch(self, rows, device):
        """The batch of the given row numbers (np.int64 array), as tensors on `device`."""
        B = len(rows)
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device, non_blocking=True)
        b = {
            "size": B,
            "rows": rows,
            "label": t(self.label[rows]),
            "doc": t(self.doc[rows]),
            "user": t(self.user[rows]),
            "query": t(self.query[rows]),
            "categorical": t(self.categorical[rows]),
            "dense": t(self.dense[rows]),
            "query_tokens": t(self.query_tokens[rows]) if self.query_tokens is not None else None,
            "sequences": {},
        }
        for v in self.views:
            col = self.columns[v["column"]]
            off = col["offsets"]
            end = off[rows + 1]
            length = np.minimum(end - off[rows], v["maxLength"])
            L = max(int(length.max()) if B else 0, 1)
            j = np.arange(L)[None, :]
            valid = j < length[:, None]
            idx = np.where(valid, end[:, None] - length[:, None] + j, 0)  # the most recent `length` events
            seq = {"ids": t(np.where(valid, col["values"][idx], 0)), "valid": t(valid), "lengths": t(length), "action": None, "age": None}
            if v["action"] and col["action"] is not None:
                seq["action"] = t(np.where(valid, col["action"][idx], 0))
            if v["age"] and col["age"] is not None:
                seq["age"] = t(np.where(valid, col["age"][idx], 0).astype(np.float32))
            b["sequences"][v["name"]] = seq
        uniq, inv = np.unique(self.doc[rows], return_inverse=True)
        b["unique_docs"], b["doc_inverse"] = t(uniq), t(inv.astype(np.int64))
        return b
