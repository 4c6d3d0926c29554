import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI draws the same examples on every run (a red build then means the change, not the dice);
# local runs keep exploring with fresh random examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("PTFT_HYPOTHESIS_PROFILE", "default"))


def pytest_collection_modifyitems(config, items):
    """GPU tests skip cleanly on machines without CUDA (CI has none)."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:
        has_cuda = False
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip)
