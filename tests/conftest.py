import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

settings.register_profile("default", deadline=None, max_examples=40)
settings.register_profile("slow", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def mnist_dir() -> Path | None:
    """The shared MNIST folder: $DCSIM_DATA/mnist, else ../shared/data/mnist beside the repo."""
    env = os.environ.get("DCSIM_DATA")
    cands = [Path(env) / "mnist"] if env else []
    cands.append(ROOT.parent / "shared" / "data" / "mnist")
    for c in cands:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def mnist_path():
    d = mnist_dir()
    if d is None:
        pytest.skip("MNIST not found: set DCSIM_DATA to a folder holding mnist/")
    return d


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never write the user's ~/.cache during tests."""
    monkeypatch.setenv("DCSIM_CACHE", str(tmp_path_factory.getbasetemp() / "dcsim-cache"))
