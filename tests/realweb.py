"""Real saved pages and PDFs from ../shared/realweb (read-only; not copied into the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

# shared/ sits beside the checkout (for a git worktree in a subfolder, beside its parent).
_CANDIDATES = [parent / "shared" / "realweb" for parent in Path(__file__).resolve().parents[1:4]]
REALWEB = next((c for c in _CANDIDATES if c.is_dir()), _CANDIDATES[0])


def realweb(relative: str) -> bytes:
    path = REALWEB / relative
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    return path.read_bytes()
