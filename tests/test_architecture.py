"""Dependency direction: config <- retrieval <- bot (and the CLI and evaluation beside bot)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "config": {"retrieval", "bot", "citebot", "discord", "evaluation"},
    # The evaluation harness is a client of retrieval (used by the CLI and the benchmarks), never a part of it.
    "retrieval": {"bot", "citebot", "discord", "evaluation", "tests"},
    "evaluation": {"bot", "citebot", "discord", "tests"},
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


def declared_api() -> set[str]:
    """The names in ``retrieval/__init__.py``'s ``__all__`` (read from the source, not imported)."""
    for node in ast.parse((ROOT / "retrieval" / "__init__.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    raise AssertionError("retrieval/__init__.py declares no __all__")


def test_bot_reaches_retrieval_only_through_its_public_api():
    """``from retrieval import X`` with X in ``retrieval.__all__``; never a submodule."""
    api = declared_api()
    for f in sorted((ROOT / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "retrieval":
                assert node.module == "retrieval", f"{f.name} imports {node.module}"
                assert {a.name for a in node.names} <= api, f"{f.name} imports {[a.name for a in node.names]}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] != "retrieval", f"{f.name} imports {alias.name}"


def test_the_public_api_resolves_and_loads_lazily():
    import retrieval

    assert set(retrieval.__all__) == declared_api() == set(retrieval._HOMES)
    for name in retrieval.__all__:
        assert getattr(retrieval, name) is not None, name
    # A parser worker or ``citebot --help`` imports retrieval.errors: it must not load the service.
    probe = "import sys, retrieval, retrieval.errors; print('retrieval.service' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (inside functions too), relative ones resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_no_module_of_the_bot_imports_a_cog():
    """Cogs are loaded by name as extensions; what they share lives in bot/ (replies, state, views).

    So no cog imports another (load order, reloads), and the views never reach into one.
    """
    offenders = {
        str(f.relative_to(ROOT)): sorted(m for m in imported_modules(f) if m.startswith("bot.cogs."))
        for f in sorted((ROOT / "bot").rglob("*.py"))
    }
    assert {f: m for f, m in offenders.items() if m} == {}


def test_the_catalog_backend_is_chosen_in_one_place():
    """Everything but the composition root knows the catalog only by its interface
    (``retrieval.catalog.Catalog``), so another backend can plug in."""
    for f in sorted((ROOT / "retrieval").glob("*.py")):
        roots = imported_roots(f)
        modules = {
            node.module
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8")))
            if isinstance(node, ast.ImportFrom) and node.module
        }
        if f.name != "sqlite_catalog.py":
            assert "sqlite3" not in roots, f"{f.name} imports sqlite3"
        if f.name not in ("sqlite_catalog.py", "catalogs.py"):
            assert "retrieval.sqlite_catalog" not in modules, f"{f.name} imports the SQLite catalog"
        if f.name not in ("postgres_catalog.py", "catalogs.py"):
            assert "retrieval.postgres_catalog" not in modules, f"{f.name} imports the PostgreSQL catalog"
        if f.name not in ("postgres_catalog.py", "catalogs.py", "locking.py"):
            assert "psycopg" not in roots, f"{f.name} imports psycopg"


def test_each_side_reads_its_own_projection_of_the_settings():
    """Cogs, views and helpers read ``BotConfig``; only the composition roots see ``Settings``."""
    roots = {"bot/runner.py", "bot/app.py", "bot/config.py"}
    offenders = [
        str(f.relative_to(ROOT))
        for f in sorted((ROOT / "bot").rglob("*.py"))
        if str(f.relative_to(ROOT)) not in roots and "config" in imported_roots(f)
    ]
    assert offenders == []


def test_the_root_conftest_does_not_load_the_discord_tests_machinery():
    roots = {
        node.module
        for node in ast.walk(ast.parse((ROOT / "tests" / "conftest.py").read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not {m for m in roots if m.startswith("tests.discord")}
