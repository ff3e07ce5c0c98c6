"""Who may read what: document sets, the roles a set is restricted to, and narrowing.

A document belongs to any number of named sets; one in none is "unfiled". A set with roles
is *restricted*: only a reader holding one of them sees its documents. ``Access`` is the
reader as plain values the front end passes in (the Discord bot: the member's role ids and
the channel's bound sets; the CLI: the operator, who sees everything) — this package knows
nothing of Discord. Rules (README, "Document sets"):

- A document is visible when the reader may see *every* restricted set it is in: adding a
  restricted document to an open set never opens it (the strictest membership wins).
- ``everything`` (a server manager, the operator) sees every set.
- ``within`` (a channel's bound sets) and ``narrow`` (an explicit ``set:``) limit what a
  search looks at to documents in one of those sets; unfiled documents are then left out.
- Reads other than search (a citation id, the document list) apply visibility only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from retrieval.errors import InvalidSet

MAX_SET_CHARS = 40
MAX_SETS = 10  # sets named at once (an ingest, a channel binding)
_SET_NAME = re.compile(rf"^[a-z0-9][a-z0-9_.-]{{0,{MAX_SET_CHARS - 1}}}$")
SET_HELP = f"a set name is 1 to {MAX_SET_CHARS} letters, digits, '-', '_' or '.', like team-docs"


def parse_set_name(text: str) -> str:
    """A set's name as stored: lowercase, stripped; ``InvalidSet`` with a reason otherwise."""
    name = text.strip().lower()
    if not _SET_NAME.match(name):
        raise InvalidSet(f"set {text.strip()[:60]!r} is not a set name: {SET_HELP}")
    return name


def parse_set_names(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """Set names from "a, b" or a list of them, each once, in order (none: empty)."""
    if values is None:
        return ()
    parts = values.split(",") if isinstance(values, str) else [p for v in values for p in v.split(",")]
    names = tuple(dict.fromkeys(parse_set_name(p) for p in parts if p.strip()))
    if len(names) > MAX_SETS:
        raise InvalidSet(f"at most {MAX_SETS} sets at once")
    return names


@dataclass(frozen=True)
class DocumentSet:
    name: str
    documents: int  # documents in it now
    roles: tuple[str, ...]  # role ids it is restricted to (none: visible to everyone)

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "documents": self.documents, "roles": list(self.roles)}


Restrictions = Mapping[str, frozenset[str]]  # set name: the role ids that may see it


@dataclass(frozen=True)
class Access:
    roles: frozenset[str] = frozenset()  # the reader's role ids
    everything: bool = False  # sees every restricted set
    within: frozenset[str] | None = None  # a channel's bound sets: search only these
    narrow: frozenset[str] | None = None  # an explicit set: search only these

    @classmethod
    def of(
        cls,
        roles: Iterable[int | str] = (),
        *,
        everything: bool = False,
        within: Iterable[str] | None = None,
        narrow: Iterable[str] | None = None,
    ) -> Access:
        return cls(
            frozenset(str(r) for r in roles),
            everything,
            None if within is None else frozenset(within),
            None if narrow is None else frozenset(narrow),
        )

    @property
    def narrows(self) -> bool:
        return self.within is not None or self.narrow is not None

    def may_see_set(self, name: str, restricted: Restrictions) -> bool:
        allowed = restricted.get(name)
        return self.everything or allowed is None or bool(allowed & self.roles)

    def may_see(self, doc_sets: frozenset[str], restricted: Restrictions) -> bool:
        """Visibility: every restricted set the document is in must be one the reader may see."""
        return self.everything or all(self.may_see_set(s, restricted) for s in doc_sets if s in restricted)

    def searches(self, doc_sets: frozenset[str]) -> bool:
        """Narrowing: the document is in one of the channel's sets and of the asked-for ones."""
        if self.within is not None and not doc_sets & self.within:
            return False
        return self.narrow is None or bool(doc_sets & self.narrow)

    def describe(self) -> str:
        parts = []
        if self.narrow is not None:
            parts.append(f"in set {', '.join(sorted(self.narrow))}")
        if self.within is not None:
            parts.append(f"in this channel's sets ({', '.join(sorted(self.within)) or 'none'})")
        return " and ".join(parts)


OPERATOR = Access(everything=True)  # the CLI and the service's default: no restriction
PUBLIC = Access()  # a reader with no roles: unfiled and unrestricted documents only
