"""The torch network: family encoders -> BiLSTM over families -> masked attention -> head.

Each family (subthreshold, rheobase spike, ramp, ...) is projected by its own small encoder
to a common width; a bidirectional LSTM runs over the family sequence; additive attention
pools it (families a cell lacks are masked out of the attention, not zero-filled into it);
a linear or ArcFace head classifies. The attention weights are the per-cell, family-level
explanation of each call.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class NetworkConfig:
    """The network's hyperparameters: the one list shared by the estimator, the network and
    a saved model's loader.

    width : encoder width; lstm_size : LSTM units per direction; dropout : dropout rate;
    attention : additive attention pooling (True) or mean pooling over present families;
    head : ``"linear"`` or ``"arcface"`` (with ``arcface_scale`` and ``arcface_margin``).
    """

    width: int = 32
    lstm_size: int = 32
    dropout: float = 0.1
    attention: bool = True
    head: str = "linear"
    arcface_scale: float = 16.0
    arcface_margin: float = 0.2

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> NetworkConfig:
        """The config from any mapping that holds these names (estimator params, a sidecar)."""
        types = {f.name: type(f.default) for f in fields(cls)}
        return cls(**{k: types[k](params[k]) for k in types if k in params})


class FamilyEncoder(nn.Module):
    """One two-layer MLP per family, batched: families are zero-padded to a common width."""

    def __init__(self, families: Sequence[Sequence[int]], n_features: int, width: int):
        super().__init__()
        d_max = max(len(f) for f in families)
        index = torch.full((len(families), d_max), n_features, dtype=torch.long)
        for i, cols in enumerate(families):
            index[i, : len(cols)] = torch.as_tensor(list(cols), dtype=torch.long)
        self.register_buffer("index", index)
        n_fam = len(families)
        sizes = torch.tensor([len(f) for f in families], dtype=torch.float32)
        self.w1 = nn.Parameter(torch.randn(n_fam, d_max, width) / sizes.sqrt()[:, None, None])
        self.b1 = nn.Parameter(torch.zeros(n_fam, width))
        self.w2 = nn.Parameter(torch.randn(n_fam, width, width) / math.sqrt(width))
        self.b2 = nn.Parameter(torch.zeros(n_fam, width))
        self.family_embedding = nn.Parameter(0.02 * torch.randn(n_fam, width))
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = torch.cat([x, x.new_zeros(len(x), 1)], dim=1)[:, self.index]  # (B, F, d)
        h = F.gelu(torch.einsum("bfd,fdw->bfw", padded, self.w1) + self.b1)
        h = torch.einsum("bfw,fwv->bfv", h, self.w2) + self.b2 + self.family_embedding
        return self.norm(h)


class ArcFaceHead(nn.Module):
    """Additive angular margin head (Deng et al. 2019): logits ``s * cos(theta + m)``."""

    def __init__(self, dim: int, n_classes: int, scale: float, margin: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_classes, dim) / math.sqrt(dim))
        self.scale, self.margin = scale, margin

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        cos = F.normalize(z, dim=1) @ F.normalize(self.weight, dim=1).T
        if y is None:
            return self.scale * cos
        sin = torch.sqrt((1.0 - cos**2).clamp_min(1e-7))
        phi = cos * math.cos(self.margin) - sin * math.sin(self.margin)
        # beyond theta > pi - m, cos(theta + m) is no longer monotone: use a linear penalty
        phi = torch.where(
            cos > math.cos(math.pi - self.margin),
            phi,
            cos - math.sin(math.pi - self.margin) * self.margin,
        )
        onehot = F.one_hot(y, cos.shape[1]).bool()
        return self.scale * torch.where(onehot, phi, cos)


class LinearHead(nn.Module):
    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.linear = nn.Linear(dim, n_classes)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.linear(z)


class FamilyAttentionBiLSTM(nn.Module):
    """Family encoders -> BiLSTM over families -> masked additive attention -> head."""

    def __init__(
        self,
        families: Sequence[Sequence[int]],
        n_features: int,
        n_classes: int,
        config: NetworkConfig | None = None,
    ):
        super().__init__()
        config = config or NetworkConfig()
        self.config = config
        width, lstm_size, dropout = config.width, config.lstm_size, config.dropout
        attention, head = config.attention, config.head
        arcface_scale, arcface_margin = config.arcface_scale, config.arcface_margin
        self.encoder = FamilyEncoder(families, n_features, width)
        self.lstm = nn.LSTM(width, lstm_size, batch_first=True, bidirectional=True)
        self.attention = attention
        self.score = nn.Sequential(
            nn.Linear(2 * lstm_size, lstm_size), nn.Tanh(), nn.Linear(lstm_size, 1, bias=False)
        )
        self.dropout = nn.Dropout(dropout)
        self._head_spec = (head, 2 * lstm_size, n_classes, arcface_scale, arcface_margin)
        self.heads = nn.ModuleDict({"main": self._make_head()})

    def _make_head(self) -> nn.Module:
        kind, dim, n_classes, scale, margin = self._head_spec
        if kind == "arcface":
            return ArcFaceHead(dim, n_classes, scale, margin)
        return LinearHead(dim, n_classes)

    def add_head(self, name: str) -> None:
        """A second classifier on the shared trunk (multi-task training across species)."""
        self.heads[name] = self._make_head()

    def embed(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cell embedding and attention weights over families (masked families get 0)."""
        mask = mask.clone()
        mask[~mask.any(dim=1)] = True  # a cell with no family at all: attend to everything
        h = self.encoder(x) * mask.unsqueeze(-1)
        h, _ = self.lstm(self.dropout(h))
        if self.attention:
            scores = self.score(h).squeeze(-1).masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=1)
        else:
            weights = mask.float() / mask.sum(dim=1, keepdim=True)
        z = torch.bmm(weights.unsqueeze(1), h).squeeze(1)
        return self.dropout(z), weights

    def forward(self, x, mask, y=None, head: str = "main"):
        z, weights = self.embed(x, mask)
        return self.heads[head](z, y), weights


#: Parameter-name prefixes of the shared trunk (everything but the heads).
TRUNK = ("encoder.", "lstm.", "score.")
