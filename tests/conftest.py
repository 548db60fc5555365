"""Fixtures shared by the test files."""

from pathlib import Path

import pytest

# The offline Planetoid raw files live next to the repository (see shared/data/README.md), not inside it.
PLANETOID_MIRROR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "planetoid"


@pytest.fixture(scope="session")
def planetoid_mirror() -> Path:
    """Mirror directory holding Cora/raw/ and CiteSeer/raw/; skips the test where it is absent."""
    if not PLANETOID_MIRROR.is_dir():
        pytest.skip(f"offline Planetoid files not found at {PLANETOID_MIRROR}")
    return PLANETOID_MIRROR
