"""The real SemanticKITTI scan (../shared, never committed) and a tiny SalsaNext checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO.parent / "shared" / "data" / "semantickitti-sample"
SCAN = SAMPLE / "sequences" / "00" / "velodyne" / "000000.bin"


@pytest.fixture(scope="session")
def kitti_sample() -> Path:
    """The real scan 00/000000 (124,668 points) beside the repository; skips when absent."""
    if not SCAN.is_file():
        pytest.skip(f"SemanticKITTI sample not found at {SAMPLE}")
    return SAMPLE


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained width-8 SalsaNext on a 64 x 256 range image, saved as a checkpoint."""
    from semseg.data.semantickitti import INFO
    from semseg.hub.checkpoint import ModelSpec, save_checkpoint

    torch.manual_seed(0)
    spec = ModelSpec(arch="salsanext", info=INFO, in_channels=5, arch_kwargs={"width": 8},
                     input_size=(64, 256))
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", spec.build(), spec)
