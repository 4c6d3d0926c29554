"""Device selection shared by every command that trains (simulations, ResNets)."""
from __future__ import annotations

import torch
from symbolic.errors import InputError


class DeviceError(InputError):
    """The requested device does not exist here."""


def resolve_device(name: str) -> torch.device:
    """'auto' (CUDA if available), 'cpu', 'cuda' or 'cuda:N'; a CUDA request without a GPU is an error."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: CUDA is not available here (torch {torch.__version__})")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
        return dev
    raise DeviceError(f"--device {name}: expected auto, cpu, cuda or cuda:N")
