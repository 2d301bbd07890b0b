"""Torch networks. Inputs: MLP ``(B, F)``; GRU/LSTM/Transformer ``(B, T, F)``; output ``(B,)``."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, n_feat: int, hidden: int = 256, layers: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        d = n_feat
        for _ in range(layers):
            mods += [nn.Linear(d, hidden), nn.LeakyReLU(0.1), nn.Dropout(dropout)]
            d = hidden
        mods.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class RNN(nn.Module):
    """GRU or LSTM over the window; the last step's hidden state feeds a linear head."""

    def __init__(self, n_feat: int, hidden: int = 64, layers: int = 2, dropout: float = 0.0,
                 cell: str = "gru") -> None:
        super().__init__()
        klass = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = klass(n_feat, hidden, num_layers=layers, batch_first=True,
                         dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(out[:, -1, :]).squeeze(-1)


class Transformer(nn.Module):
    """Linear embedding + learned positions + encoder; the last step feeds the head."""

    def __init__(self, n_feat: int, hidden: int = 64, layers: int = 2, heads: int = 4,
                 dropout: float = 0.1, seq_len: int = 60) -> None:
        super().__init__()
        self.embed = nn.Linear(n_feat, hidden)
        self.pos = nn.Parameter(torch.zeros(1, seq_len, hidden))
        layer = nn.TransformerEncoderLayer(hidden, heads, 4 * hidden, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.pos[:, -x.shape[1]:, :]
        return self.head(self.encoder(h)[:, -1, :]).squeeze(-1)


def build_net(kind: str, n_feat: int, params: dict[str, Any], seq_len: int) -> nn.Module:
    """The network for ``kind`` with hyper-parameters from ``params``."""
    h, n, p = int(params.get("hidden", 64)), int(params.get("layers", 2)), float(params.get("dropout", 0.0))
    if kind == "mlp":
        return MLP(n_feat, h, n, p)
    if kind in ("gru", "lstm"):
        return RNN(n_feat, h, n, p, cell=kind)
    if kind == "transformer":
        return Transformer(n_feat, h, n, int(params.get("heads", 4)), p, seq_len)
    raise ValueError(f"not a torch model: {kind}")
