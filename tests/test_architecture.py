"""Dependency direction: config <- retrieval <- bot (and the CLI beside bot)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "config": {"retrieval", "bot", "citebot", "discord"},
    "retrieval": {"bot", "citebot", "discord"},
    "bot": {"chromadb", "sentence_transformers", "langchain", "langchain_core", "langchain_chroma", "bm25s", "citebot"},
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_wrong_way_imports(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    offenders = {
        str(f.relative_to(ROOT)): sorted(imported_roots(f) & FORBIDDEN[package])
        for f in files
        if imported_roots(f) & FORBIDDEN[package]
    }
    assert offenders == {}


def test_bot_reaches_retrieval_only_through_the_service_api():
    allowed = {"retrieval.service", "retrieval.models", "retrieval.errors"}
    for f in sorted((ROOT / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("retrieval"):
                assert node.module in allowed, f"{f.name} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("retrieval"):
                        assert alias.name in allowed, f"{f.name} imports {alias.name}"
