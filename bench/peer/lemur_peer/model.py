"""The LEMUR model in plain PyTorch (port of native/model/lemur_model.cpp), built from the
flat configuration lemur's native model receives (`nativeModelConfig`, exported in meta.json).

forward():
  1. ID features: user, candidate doc (optionally dropped: docIdDropout), categorical fields
     of the request and of the candidate document, through the hashed tables; dense floats.
  2. Query embedding: the query encoder over query text, or without query text the request
     tower (user + request features -> FFN -> unit norm).
  3. Target document embedding: the batch's distinct candidates are read from the memory bank;
     encoder sampling (p forward, q backward, drawn per sample; missing docs always encoded)
     decides which are re-encoded, with or without gradient; the fresh vectors are written
     into the bank *before* the history reads (in-batch freshness, "detached").
  4. context = [ID features, dense, q, d, (cos(q, d))].
  5. Per sequence view: similarity features (cosines of the view's bank rows with d), the LEMUR
     decoder over the view's bank rows, the LONGER encoder over the view's doc-ID embeddings.
  6. Backbone (RankMixer or MLP) over [context, sequence tokens, similarity features].
"""
import torch
import torch.nn as nn

from .embedding import IdEmbeddings
from .layers import FeedForward, MlpHead, l2_normalize
from .memory_bank import MemoryBank
from .rank_mixer import RankMixer
from .sequence import IdSequenceEncoder, SequenceDecoder, Similarity
from .text_encoder import TextEncoder


class LemurPeer(nn.Module):
    def __init__(self, c, documents):
        """c: the native configuration (dict); documents: (tokens, images, has_image, categorical)
        tensors on the model's device (see data.Export.documents)."""
        super().__init__()
        self.c = c
        e = c["embeddingDim"]
        idd = c["idDim"]
        self.doc_tokens, self.doc_images, self.doc_has_image, self.doc_categorical = documents
        self.content = c["docEncoder"]["enabled"]
        self.qd_sim = bool(c.get("queryDocSimilarity", False)) and self.content
        self.queries_from = c["decoder"].get("queriesFrom", "context")
        self.fresh = c.get("freshInBatch", "detached")
        self.history_source = c.get("historySource", "bank")

        self.tables = IdEmbeddings(idd)
        if c["userId"]:
            self.tables.add_table("user", c["userBuckets"] or max(c["numUsers"], 1))
        any_id_seq = any(s["idEncoder"] != "none" for s in c["sequences"])
        self.has_doc_table = c["docId"] or any_id_seq
        if self.has_doc_table:
            self.tables.add_table("doc", c["docBuckets"] or max(c["numDocuments"], 1))
        self.cat_names = [f["name"] for f in c["categorical"]]
        self.doccat_names = [f["name"] for f in c["docCategorical"]]
        for f in c["categorical"]:
            self.tables.add_table("cat_" + f["name"], f["buckets"])
        for f in c["docCategorical"]:
            self.tables.add_table("doccat_" + f["name"], f["buckets"])

        ns_id = idd * (int(c["userId"]) + int(c["docId"]) + len(self.cat_names) + len(self.doccat_names))
        ns_dim = ns_id + c["dense"]
        self.query_encoder = self.request_tower = self.doc_encoder = None
        if self.content:
            image = c["image"]
            img = (image["height"], image["width"], image["channels"]) if image else None
            self.doc_encoder = TextEncoder(c["vocabSize"], c["docTokens"], c["textFields"], e, c["docEncoder"], img)
            if c["queryEncoder"]["enabled"] and c["queryTokens"] > 0:
                self.query_encoder = TextEncoder(c["vocabSize"], c["queryTokens"], 1, e, c["queryEncoder"])
            else:
                tower_in = ns_dim - (idd if c["docId"] else 0) - idd * len(self.doccat_names)
                if tower_in <= 0:
                    raise ValueError("without query text the request tower needs user or request features")
                self.request_tower = FeedForward(tower_in, 2 * e, e)
        self.bank = None
        if c["bank"]:
            dtype = torch.bfloat16 if c.get("bankDtype") == "bfloat16" else torch.float32
            self.bank = MemoryBank(c["numDocuments"], e, dtype)

        q_dim = d_dim = e if self.content else 0
        qd_dim = 1 if self.qd_sim else 0
        context_dim = ns_dim + q_dim + d_dim + qd_dim
        if c["backbone"]["type"] == "hyformer":
            raise NotImplementedError("the peer ports LONGER + RankMixer / MLP backbones, not HyFormer")
        self.similarities, self.decoders, self.id_encoders = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.similarity_of, self.decoder_of, self.id_encoder_of = [], [], []
        seq_features = sim_features = 0
        for s in c["sequences"]:
            if s["similarity"]:
                self.similarity_of.append(len(self.similarities))
                sim = Similarity(c["similarityLength"], c["actionTypes"], s["action"])
                sim_features += sim.features()
                self.similarities.append(sim)
            else:
                self.similarity_of.append(-1)
            if s["bank"]:
                self.decoder_of.append(len(self.decoders))
                query_in = context_dim - d_dim - qd_dim if self.queries_from == "request" else context_dim
                self.decoders.append(SequenceDecoder(c["decoder"], s, query_in, e, c["actionTypes"]))
                seq_features += c["decoder"]["queries"] * c["decoder"]["width"]
            else:
                self.decoder_of.append(-1)
            if s["idEncoder"] != "none":
                self.id_encoder_of.append(len(self.id_encoders))
                enc = IdSequenceEncoder(c["longer"], s["idEncoder"], idd, context_dim, s, c["actionTypes"])
                seq_features += enc.output_tokens() * c["longer"]["width"]
                self.id_encoders.append(enc)
            else:
                self.id_encoder_of.append(-1)
        features = context_dim + seq_features + sim_features
        bb = c["backbone"]
        # named as in lemur (`rankmixer` / `mlp`), so that lemur's checkpoints load by name
        if bb["type"] == "rankmixer":
            self.rankmixer = RankMixer(features, bb["tokens"], bb["width"], bb["layers"], bb["ffnMult"], bb["mlpHidden"])
        else:
            self.mlp = MlpHead(features, bb["mlpHidden"])
        self.frozen = False

    def backbone(self, x):
        return self.rankmixer(x) if self.c["backbone"]["type"] == "rankmixer" else self.mlp(x)

    # ------------------------------------------------------------------ parameters

    def encoder_modules(self):
        return [m for m in (self.query_encoder, self.doc_encoder, self.request_tower) if m is not None]

    def encoder_parameters(self):
        return [p for m in self.encoder_modules() for p in m.parameters()]

    def dense_parameters(self):
        table = {id(p) for p in self.tables.parameters()}
        return [p for p in self.parameters() if id(p) not in table]

    def other_parameters(self):
        enc = {id(p) for p in self.encoder_parameters()}
        return [p for p in self.dense_parameters() if id(p) not in enc]

    # ------------------------------------------------------------------ pieces

    def encode_content(self, ids):
        return self.doc_encoder(self.doc_tokens[ids], None if self.doc_images is None else self.doc_images[ids],
                                None if self.doc_has_image is None else self.doc_has_image[ids])

    @torch.no_grad()
    def encode_documents(self, ids, chunk=512):
        return torch.cat([self.encode_content(ids[i : i + chunk]) for i in range(0, ids.numel(), chunk)]) if ids.numel() else None

    def query_embedding(self, b, user_emb, cat_embs, dense):
        if self.query_encoder is not None:
            return self.query_encoder(b["query_tokens"])
        parts = ([user_emb] if user_emb is not None else []) + cat_embs + ([dense] if dense.shape[1] > 0 else [])
        return l2_normalize(self.request_tower(torch.cat(parts, 1)))

    # ------------------------------------------------------------------ forward

    def forward(self, b, step=0):
        """-> dict(logits [B], q [B, e], d [B, e], deferred_write (ids, rows) or None)."""
        c = self.c
        train = self.training
        B = b["size"]
        dev = b["label"].device

        # 1. ID features
        ns, user_emb, cat_embs = [], None, []
        doc_seq_emb = {}
        if c["userId"]:
            user_emb = self.tables("user", b["user"])
            ns.append(user_emb)
        if self.has_doc_table:
            if c["docId"]:
                cand = self.tables("doc", b["doc"])
                if train and c["docIdDropout"] > 0:
                    cand = cand * (torch.rand(B, device=dev) >= c["docIdDropout"]).unsqueeze(1).to(cand.dtype)
                ns.append(cand)
            for s in c["sequences"]:
                if s["idEncoder"] != "none":
                    seq = b["sequences"][s["name"]]
                    # only the real events are looked up (padding touches no row)
                    emb = cand.new_zeros(*seq["ids"].shape, c["idDim"]) if c["docId"] else torch.zeros(*seq["ids"].shape, c["idDim"], device=dev)
                    emb = emb.masked_scatter(seq["valid"].unsqueeze(-1), self.tables("doc", seq["ids"][seq["valid"]]))
                    doc_seq_emb[s["name"]] = emb
        for i, n in enumerate(self.cat_names):
            cat_embs.append(self.tables("cat_" + n, b["categorical"][:, i]))
        ns += cat_embs
        if self.doccat_names:
            values = self.doc_categorical[b["doc"]]
            for i, n in enumerate(self.doccat_names):
                ns.append(self.tables("doccat_" + n, values[:, i]))
        ns_ids = torch.cat(ns, 1) if ns else torch.zeros(B, 0, device=dev)
        dense = b["dense"].to(ns_ids.dtype)
        parts = [ns_ids, dense]
        out = {"deferred_write": None, "q": None, "d": None}

        if not self.content:
            context = torch.cat(parts, 1)
            feats = [context]
            for si, s in enumerate(c["sequences"]):
                if self.id_encoder_of[si] >= 0:
                    seq = b["sequences"][s["name"]]
                    enc = self.id_encoders[self.id_encoder_of[si]]
                    feats.append(enc(context, doc_seq_emb[s["name"]], seq["valid"], seq["action"], seq["age"]).reshape(B, -1))
            out["logits"] = self.backbone(torch.cat(feats, 1))
            return out

        # 2. query embedding
        if self.frozen:
            with torch.no_grad():
                q = self.query_embedding(b, user_emb, cat_embs, dense)
        else:
            q = self.query_embedding(b, user_emb, cat_embs, dense)

        # 3. target documents: bank read, encoder sampling, fresh encodings, bank write
        U, inv = b["unique_docs"], b["doc_inverse"]
        nU = U.numel()
        if self.bank is not None:
            d_u, present = self.bank.read(U)
            if train:
                self.bank.count(present, target=True)
        else:
            d_u, present = torch.zeros(nU, c["embeddingDim"], device=dev), torch.zeros(nU, dtype=torch.bool, device=dev)
        if train and not self.frozen:
            p = 1.0 if self.bank is None else c["encodeForward"]
            r = torch.rand(B, device=dev)
            any_of_doc = lambda drawn: torch.zeros(nU, dtype=torch.long, device=dev).index_add_(0, inv, drawn.long()) > 0
            encode = any_of_doc(r < p) | ~present
            grad = any_of_doc(r < c["encodeBackward"]) & encode
        else:
            encode = ~present
            grad = torch.zeros_like(present)
        idx_grad = grad.nonzero().squeeze(1)
        idx_nograd = (encode & ~grad).nonzero().squeeze(1)
        v_grad = None
        if idx_grad.numel() > 0:
            v_grad = self.encode_content(U[idx_grad])
            d_u = d_u.index_put((idx_grad,), v_grad.to(d_u.dtype))
        if idx_nograd.numel() > 0:
            with torch.no_grad():
                v = self.encode_content(U[idx_nograd])
            d_u = d_u.index_put((idx_nograd,), v.to(d_u.dtype))
        d = d_u[inv]
        out["q"], out["d"] = q, d
        d_rank = d.detach() if c["stopGradient"] else d
        q_rank = q.detach() if c["stopGradient"] else q
        enc_idx = encode.nonzero().squeeze(1)
        if train and self.bank is not None:
            if self.fresh != "off":
                self.bank.write(U[enc_idx], d_u[enc_idx], step)  # before the history reads
            else:
                out["deferred_write"] = (U[enc_idx], d_u[enc_idx].detach())
        gradient_fresh = train and not c["stopGradient"] and self.fresh == "gradient" and v_grad is not None
        if gradient_fresh:
            slot = torch.full((c["numDocuments"],), -1, dtype=torch.long, device=dev)
            slot[U[idx_grad]] = torch.arange(idx_grad.numel(), device=dev)

        # 4. context
        parts.append(q_rank)
        request_context = torch.cat(parts, 1)
        parts.append(d_rank)
        if self.qd_sim:
            parts.append((q_rank * d_rank.to(q_rank.dtype)).sum(1, keepdim=True))
        context = torch.cat(parts, 1)
        decoder_context = request_context if self.queries_from == "request" else context

        # 5. sequences
        seq_tokens, sim_feats = [], []
        for si, s in enumerate(c["sequences"]):
            seq = b["sequences"][s["name"]]
            ids, valid = seq["ids"], seq["valid"]
            rows = mask = None
            if s["bank"] or s["similarity"]:
                if self.history_source == "encode":
                    # every event re-encoded (with gradient when training): what the bank avoids
                    uniq, back = torch.unique(ids[valid], return_inverse=True)
                    enc = self.encode_content(uniq) if uniq.numel() else torch.zeros(0, c["embeddingDim"], device=dev)
                    rows = torch.zeros(*ids.shape, c["embeddingDim"], device=dev, dtype=enc.dtype)
                    rows = rows.masked_scatter(valid.unsqueeze(-1), enc[back])
                    mask = valid
                    if c["stopGradient"]:
                        rows = rows.detach()
                else:
                    rows, present_h = self.bank.read(ids)
                    if train:
                        self.bank.count(present_h, target=False, valid=valid)
                    if not train:
                        # evaluation: events the bank lacks are encoded, as an indexer would have
                        missing = valid & ~present_h
                        if bool(missing.any()):
                            uniq, back = torch.unique(ids[missing], return_inverse=True)
                            enc = self.encode_documents(uniq).to(rows.dtype)
                            rows = rows.masked_scatter(missing.unsqueeze(-1), enc[back])
                        present_h = valid
                    if gradient_fresh:
                        sl = slot[ids]
                        is_fresh = (sl >= 0) & valid
                        rows = torch.where(is_fresh.unsqueeze(-1), v_grad[sl.clamp_min(0)].to(rows.dtype), rows)
                        present_h = present_h | is_fresh
                    mask = valid & present_h
            if s["similarity"]:
                sim = self.similarities[self.similarity_of[si]]
                sim_feats.append(sim(d_rank, rows, mask, seq["lengths"], seq["action"]))
            if self.decoder_of[si] >= 0:
                dec = self.decoders[self.decoder_of[si]]
                seq_tokens.append(dec(decoder_context, rows, mask, seq["action"], seq["age"]).reshape(B, -1))
            if self.id_encoder_of[si] >= 0:
                enc = self.id_encoders[self.id_encoder_of[si]]
                seq_tokens.append(enc(context, doc_seq_emb[s["name"]], valid, seq["action"], seq["age"]).reshape(B, -1))

        # 6. backbone
        out["logits"] = self.backbone(torch.cat([context] + seq_tokens + sim_feats, 1))
        return out
