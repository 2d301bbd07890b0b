"""Device choice and seeding for torch models.

``pick_device()``: ``$FLYER_DEVICE`` when set (``cpu``, ``cuda``, ``cuda:1``, ...), else CUDA when
available, else CPU. On CUDA, training autocasts to bfloat16 (``autocast_dtype``).
"""
from __future__ import annotations

import os
import random

import numpy as np

from flyer.core.errors import FlyerError


def pick_device(override: str | None = None) -> str:
    """The device name to train on (see module docstring)."""
    import torch

    want = override or os.environ.get("FLYER_DEVICE", "").strip()
    if want:
        if want.startswith("cuda") and not torch.cuda.is_available():
            raise FlyerError(f"FLYER_DEVICE={want} but CUDA is not available")
        if not (want == "cpu" or want.startswith("cuda") or want == "mps"):
            raise FlyerError(f"unknown device {want!r}; use cpu or cuda[:n]")
        return want
    return "cuda" if torch.cuda.is_available() else "cpu"


def autocast_dtype(device: str):
    """bfloat16 on CUDA, None (full float32) elsewhere."""
    import torch

    return torch.bfloat16 if device.startswith("cuda") else None


def seed_everything(seed: int) -> None:
    """Fix python, numpy and torch seeds and ask torch for deterministic kernels (cuBLAS needs
    ``CUBLAS_WORKSPACE_CONFIG`` for that; set here unless the user set it)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
