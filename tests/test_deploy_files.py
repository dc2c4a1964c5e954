"""The deployment files parse, and every labeler command, flag and LABELER_* variable they
use exists in the real Click commands and settings (and in docs/operations.md's table)."""

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from labeler.bundle import load_bundle
from labeler.cli.main import cli
from labeler.protocol import queue_name
from labeler.settings import DEFAULT_BUNDLE
from tests.conftest import REPO

DEPLOY = REPO / "deploy"
YAML_FILES = sorted(DEPLOY.rglob("*.yaml"))
TEXT_FILES = sorted(p for p in DEPLOY.rglob("*") if p.is_file())


def _documents(path: Path) -> list:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.name)
def test_yaml_parses(path):
    assert _documents(path)


def test_compose_has_password_persistence_gpu_profile_and_flower():
    compose = _documents(DEPLOY / "compose.yaml")[0]
    services = compose["services"]
    assert {"redis", "worker", "worker-gpu", "flower"} <= set(services)
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--requirepass" in redis_cmd and "--appendonly yes" in redis_cmd
    assert "noeviction" in redis_cmd
    assert services["worker-gpu"]["profiles"] == ["gpu"]
    # The page listens beyond loopback inside its container: with sign-in, or it would not start.
    assert services["web"]["entrypoint"][-2:] == ["--auth", "token"]
    assert "LABELER_WEB_TOKEN" in services["web"]["environment"]


def test_kubernetes_worker_requests_a_gpu_and_scales_on_queue_depth():
    docs = {d["kind"]: d for d in _documents(DEPLOY / "k8s" / "worker.yaml")}
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["readinessProbe"]["exec"]["command"][:2] == ["labeler", "doctor"]
    trigger = docs["ScaledObject"]["spec"]["triggers"][0]
    assert trigger["type"] == "redis"
    # The scaler watches the shipped model's `auto` queue: a new default bundle must move it.
    shipped = load_bundle(DEFAULT_BUNDLE).name
    assert trigger["metadata"]["listName"] == queue_name(shipped, "auto")


def _labeler_invocations() -> list[list[str]]:
    """Every `labeler ...` command line in deploy/, including container args appended to a
    `labeler worker` entrypoint."""
    found = []
    for path in TEXT_FILES:
        text = path.read_text()
        for match in re.finditer(r"\blabeler (worker|doctor|submit|status|results)"
                                 r"((?: +[\w./$:@-]+)*)(?=$|[ \n\"'|])", text, re.M):
            found.append([match.group(1), *shlex.split(match.group(2))])
        if path.suffix == ".yaml":
            for doc in _documents(path):
                found += _worker_args(doc, path)
    return found


def _worker_args(node, path) -> list[list[str]]:
    found = []
    if isinstance(node, dict):
        for key in ("args", "command"):
            value = node.get(key)
            if isinstance(value, list) and value and str(value[0]).startswith("--") and (
                    "worker" in str(node.get("build", node.get("image", "")))
                    or "worker" in str(node.get("name", ""))):
                found.append(["worker", *map(str, value)])
        for child in node.values():
            found += _worker_args(child, path)
    elif isinstance(node, list):
        for child in node:
            found += _worker_args(child, path)
    return found


def test_every_labeler_command_and_flag_in_deploy_exists():
    invocations = _labeler_invocations()
    assert any(args[0] == "worker" and "--concurrency" in args for args in invocations)
    for args in invocations:
        command = cli.get_command(None, args[0])
        assert command is not None, f"unknown command {args[0]}"
        flags = {opt for p in command.params if isinstance(p, click.Option)
                 for opt in (*p.opts, *p.secondary_opts)}
        for word in args[1:]:
            if word.startswith("--"):
                assert word.split("=")[0] in flags, f"labeler {args[0]} has no {word}"


def test_every_labeler_variable_in_deploy_is_a_real_setting_and_documented():
    from labeler.settings import VARIABLES

    table = (REPO / "docs" / "operations.md").read_text()
    used = {v for p in TEXT_FILES for v in re.findall(r"LABELER_[A-Z_]+", p.read_text())}
    assert used
    for variable in used:
        assert variable in VARIABLES or variable == "LABELER_HOME", (
            f"{variable} is not a labeler setting")
        assert f"`{variable}`" in table, f"{variable} is missing from the settings table"
