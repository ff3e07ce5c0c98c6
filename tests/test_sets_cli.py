"""``citebot ingest --set``, ``ask/search --set``, ``citebot sets`` and ``config set-roles``."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import cli, lines  # noqa: F401  (the fixture)

HR = "The zqhrpolicy grants parental leave of sixteen weeks at full pay to every employee."
CANTEEN = "The zqcanteen serves soup from noon until two on every weekday of the year."


def test_ingest_into_sets_then_narrow_list_and_restrict(cli, tmp_path: Path):  # noqa: F811
    (tmp_path / "hr.txt").write_text(HR)
    (tmp_path / "canteen.txt").write_text(CANTEEN)
    code, out, err = cli("ingest", str(tmp_path / "hr.txt"), "--set", "HR", "--set", "policies", "-n", "g")
    assert code == 0, err
    assert cli("ingest", str(tmp_path / "canteen.txt"), "--set", "general", "-n", "g")[0] == 0

    code, out, _ = cli("search", "zqhrpolicy zqcanteen leave soup", "--set", "general", "-n", "g", "--json")
    assert code == 0
    assert {r["title"] for r in json.loads(out)["results"]} == {"canteen"}
    code, out, _ = cli("ask", "How long is the zqhrpolicy parental leave?", "--set", "nosuch", "-n", "g")
    assert code == 0 and "No documents match the filter (in set nosuch)." in out

    code, out, _ = cli("config", "set-roles", "hr", "111", "222", "-n", "g")
    assert code == 0 and out.strip() == "set hr: restricted to roles 111, 222 (1 documents)"
    code, out, _ = cli("sets", "-n", "g", "--json")
    assert json.loads(out)["sets"] == [
        {"name": "general", "documents": 1, "roles": []},
        {"name": "hr", "documents": 1, "roles": ["111", "222"]},
        {"name": "policies", "documents": 1, "roles": []},
    ]
    code, out, _ = cli("sets", "-n", "g")
    assert "hr  (1 documents, restricted to roles 111, 222)" in out
    code, out, _ = cli("sources", "-n", "g")
    assert "[sets: hr, policies]" in out  # the operator sees every set
    assert cli("config", "set-roles", "hr", "-n", "g")[1].strip() == "set hr: visible to everyone (1 documents)"


def test_bad_set_arguments_exit_2_with_one_line(cli, tmp_path: Path):  # noqa: F811
    (tmp_path / "a.txt").write_text(CANTEEN)
    for args in (
        ("ingest", str(tmp_path / "a.txt"), "--set", "two words"),
        ("ask", "What is served?", "--set", "a b"),
        ("search", "soup", "--set", ""),
        ("config", "set-roles", "hr", "not-a-role"),
        ("config", "set-roles", "bad name", "1"),
    ):
        code, out, err = cli(*args)
        assert code == 2, (args, out, err)
        assert len(err.strip().splitlines()) == 1 and err.startswith("error:"), err
