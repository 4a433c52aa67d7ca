"""Shared pytest fixtures."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = (REPO_ROOT / ".." / "shared").resolve()
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def require_shared(relative: str) -> Path:
    """The path ``../shared/<relative>``; skips the test, with the reason printed, when it is absent."""
    path = SHARED_DIR / relative
    if not path.exists():
        reason = f"needs {path} (the project's shared folder ../shared), which is absent here"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture
def shared_dir() -> Path:
    """../shared relative to the repository root (resolved); skips when absent."""
    if not SHARED_DIR.is_dir():
        reason = f"needs the shared folder {SHARED_DIR}, which is absent here"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return SHARED_DIR
