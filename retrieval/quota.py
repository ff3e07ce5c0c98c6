"""Per-namespace bounds on what may be ingested (a Discord guild's, for instance)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.catalog import Catalog
from retrieval.errors import LimitReached


@dataclass(frozen=True)
class Quota:
    """Bounds for one namespace (0 = unlimited)."""

    max_documents: int = 0
    max_bytes: int = 0
    ingests_per_hour: int = 0


def check_quota(
    catalog: Catalog, namespace: str, quota: Quota, extra_bytes: int = 0, *, replacing: Sequence[str] = ()
) -> None:
    """Raise ``LimitReached`` when one more ingest of ``extra_bytes`` would pass the bounds.
    ``replacing``: doc ids the ingest replaces (they stop counting)."""
    count, used = catalog.usage(namespace, exclude=replacing)
    if quota.max_documents and count >= quota.max_documents:
        raise LimitReached("documents", quota.max_documents, count)
    if quota.max_bytes and used + extra_bytes > quota.max_bytes:
        raise LimitReached("bytes", quota.max_bytes, used + extra_bytes)
    if quota.ingests_per_hour:
        recent = catalog.ingests_since(namespace, time.time() - 3600)
        if recent >= quota.ingests_per_hour:
            raise LimitReached("ingests_per_hour", quota.ingests_per_hour, recent)
