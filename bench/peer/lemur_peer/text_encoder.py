"""Query / document encoder (port of native/model/text_encoder.cpp).

Bidirectional pre-LN Transformer over [CLS] + packed text fields, token + position +
field-type embeddings; an image is cut into patches, linearly projected, and appended as its
own field (own type embedding, learned patch positions). The [CLS] output goes through a
final LayerNorm and a projection to the embedding size, L2-normalized.

By design the batch stays padded [U, L (+ patches)] with a key-padding mask (lemur drops the
padding and runs ragged attention over the packed tokens); the [CLS] outputs are the same.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import FeedForward, l2_normalize, masked_attention

SEP_TOKEN = 2


class EncoderLayer(nn.Module):
    def __init__(self, width, heads, ffn_mult, dropout=0.0):
        super().__init__()
        assert width % heads == 0
        self.heads, self.dropout = heads, dropout
        self.ln1 = nn.LayerNorm(width)
        self.ln2 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ffn = FeedForward(width, ffn_mult * width, width)

    def forward(self, x, key_mask):
        U, L, W = x.shape
        H, D = self.heads, W // self.heads
        # the same layout as lemur's qkv view [T, 3, heads, dh]
        q, k, v = self.qkv(self.ln1(x)).view(U, L, 3, H, D).permute(2, 0, 3, 1, 4).unbind(0)
        ctx = masked_attention(q, k, v, key_mask, 1.0 / math.sqrt(D))
        a = self.proj(ctx.transpose(1, 2).reshape(U, L, W))
        h = x + F.dropout(a, self.dropout, self.training)
        return h + F.dropout(self.ffn(self.ln2(h)), self.dropout, self.training)


class TextEncoder(nn.Module):
    def __init__(self, vocab, max_tokens, text_fields, out_dim, enc, image=None):
        """enc: the encoder config (layers, width, heads, ffnMult, patch, dropout);
        image: (height, width, channels) or None."""
        super().__init__()
        W = enc["width"]
        self.vocab, self.text_fields = vocab, text_fields
        self.dropout = float(enc.get("dropout", 0.0))
        self.token_emb = nn.Embedding(vocab, W)
        self.pos_emb = nn.Embedding(max(max_tokens, 1), W)
        # types: 0 = [CLS], 1..fields = text fields, fields + 1 = image patches
        self.type_emb = nn.Embedding(text_fields + 2, W)
        self.patches = 0
        if image is not None:
            P = enc.get("patch", 8)
            h, w, c = image
            assert h % P == 0 and w % P == 0, f"image {h}x{w} is not divisible by the patch size {P}"
            self.image, self.patch = (h, w, c), P
            self.patches = (h // P) * (w // P)
            self.patch_proj = nn.Linear(P * P * c, W)
            self.patch_pos = nn.Parameter(torch.randn(self.patches, W) * 0.02)
        self.layers = nn.ModuleList([EncoderLayer(W, enc["heads"], enc["ffnMult"], self.dropout) for _ in range(enc["layers"])])
        self.final_ln = nn.LayerNorm(W)
        self.out = nn.Linear(W, out_dim)
        for emb in (self.token_emb, self.pos_emb, self.type_emb):
            nn.init.normal_(emb.weight, 0.0, 0.02)

    def forward(self, tokens, images=None, has_image=None):
        """tokens [U, L] int64 ([CLS] first, 0 = padding); images [U, H, W, C] uint8 and
        has_image [U] bool, or None -> [U, out_dim], unit norm."""
        tokens = tokens.clamp(0, self.vocab - 1)
        U, L = tokens.shape
        sep = tokens.eq(SEP_TOKEN).long()
        types = (sep.cumsum(1) - sep + 1).clamp_max(self.text_fields)
        types[:, 0] = 0
        pos = torch.arange(L, device=tokens.device)
        x = self.token_emb(tokens) + self.pos_emb(pos)[None] + self.type_emb(types)
        keep = tokens.ne(0)
        if self.patches > 0 and images is not None:
            H, Wd, C = self.image
            P = self.patch
            img = images.to(x.dtype) / 255.0 - 0.5
            img = img.view(U, H // P, P, Wd // P, P, C).permute(0, 1, 3, 2, 4, 5).reshape(U, self.patches, P * P * C)
            img_type = self.type_emb.weight[self.text_fields + 1]
            px = self.patch_proj(img) + self.patch_pos[None] + img_type
            x = torch.cat([x, px], 1)
            present = has_image.bool() if has_image is not None else torch.ones(U, dtype=torch.bool, device=x.device)
            keep = torch.cat([keep, present[:, None].expand(U, self.patches)], 1)
        x = F.dropout(x, self.dropout, self.training)
        for layer in self.layers:
            x = layer(x, keep)
        return l2_normalize(self.out(self.final_ln(x[:, 0])))
