"""Numbered schema migrations, one folder of SQL steps per catalog backend.

``<backend>/NNNN_name.sql`` is schema version NNNN: a backend applies the steps above its
recorded ``meta.schema_version`` in order, each in one transaction with the new version
recorded in it, and refuses a catalog whose version is newer than its last step. A schema
change is a new step (never an edit of a shipped one), so the version changes with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Step:
    version: int
    name: str
    sql: str


def steps(backend: str) -> list[Step]:
    """The backend's steps, by version (1, 2, ... with no gap)."""
    folder = resources.files("retrieval.migrations") / backend
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Step(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda s: s.version)
    if [s.version for s in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{backend} migrations are not numbered 1..n: {[s.name for s in found]}")
    return found


def latest(backend: str) -> int:
    return steps(backend)[-1].version
