"""RankMixer backbone (port of native/model/rank_mixer.cpp): the flat feature vector cut into
T chunks (zero-padded), each projected with its own weights to a token of width D; each layer
S = LN(TokenMix(X) + X), X' = LN(PerTokenFFN(S) + S); mean-pool -> MLP head -> logit."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import MlpHead


def token_mix(x):
    """[B, T, D] -> [B, T, D] with out[b, h, t*(D/T) + j] = x[b, t, h*(D/T) + j]."""
    B, T, D = x.shape
    return x.view(B, T, T, D // T).transpose(1, 2).reshape(B, T, D)


class FeatureTokenizer(nn.Module):
    def __init__(self, input_dim, tokens, width):
        super().__init__()
        self.input_dim, self.tokens = input_dim, tokens
        self.chunk = -(-input_dim // tokens)
        bound = 1.0 / math.sqrt(self.chunk)
        self.weight = nn.Parameter(torch.empty(tokens, self.chunk, width).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(tokens, width))

    def forward(self, f):
        B = f.shape[0]
        pad = self.tokens * self.chunk - self.input_dim
        if pad:
            f = F.pad(f, (0, pad))
        return torch.einsum("btc,tcd->btd", f.view(B, self.tokens, self.chunk), self.weight) + self.bias


class PerTokenFFN(nn.Module):
    def __init__(self, tokens, width, hidden):
        super().__init__()
        b1, b2 = 1.0 / math.sqrt(width), 1.0 / math.sqrt(hidden)
        self.w1 = nn.Parameter(torch.empty(tokens, width, hidden).uniform_(-b1, b1))
        self.b1 = nn.Parameter(torch.zeros(tokens, hidden))
        self.w2 = nn.Parameter(torch.empty(tokens, hidden, width).uniform_(-b2, b2))
        self.b2 = nn.Parameter(torch.zeros(tokens, width))

    def forward(self, x):
        h = F.gelu(torch.einsum("btd,tdh->bth", x, self.w1) + self.b1)
        return torch.einsum("bth,thd->btd", h, self.w2) + self.b2


class RankMixerBlock(nn.Module):
    def __init__(self, tokens, width, ffn_mult):
        super().__init__()
        assert width % tokens == 0, f"RankMixer width {width} must be divisible by its token count {tokens}"
        self.ln_mix = nn.LayerNorm(width)
        self.ln_ffn = nn.LayerNorm(width)
        self.ffn = PerTokenFFN(tokens, width, ffn_mult * width)

    def forward(self, x):
        s = self.ln_mix(token_mix(x) + x)
        return self.ln_ffn(self.ffn(s) + s)


class RankMixer(nn.Module):
    def __init__(self, input_dim, tokens, width, layers, ffn_mult, head_hidden):
        super().__init__()
        self.tokenizer = FeatureTokenizer(input_dim, tokens, width)
        self.blocks = nn.ModuleList([RankMixerBlock(tokens, width, ffn_mult) for _ in range(layers)])
        self.head = MlpHead(width, head_hidden)

    def forward(self, features):
        x = self.tokenizer(features)
        for b in self.blocks:
            x = b(x)
        return self.head(x.mean(1))
