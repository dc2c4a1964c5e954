"""A test tool's cached venv is trusted only while it records today's lock: a venv built from
another lock is built again. The tool here is a one-module wheel made on the spot, installed
offline, so the mechanics run in seconds."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from tests.pinned_tools import RECORD, PinnedTool, ToolFailed


def _wheel(folder: Path, name: str = "probe", version: str = "1.0") -> Path:
    """A pure-Python wheel with a console script `probe`, written by hand (no build backend,
    no network)."""
    files = {
        f"{name}.py": "def main():\n    print('probe ok')\n",
        f"{name}-{version}.dist-info/METADATA":
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{name}-{version}.dist-info/WHEEL":
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{name}-{version}.dist-info/entry_points.txt":
            f"[console_scripts]\n{name} = {name}:main\n",
    }
    record = [f"{path},sha256={_digest(text)},{len(text)}" for path, text in files.items()]
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join(
        [*record, f"{name}-{version}.dist-info/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def tool(tmp_path) -> PinnedTool:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels)
    lock = tmp_path / "probe.txt"
    lock.write_text(f"--no-index\n--find-links {wheels}\nprobe==1.0\n")
    return PinnedTool("probe", lock, "bin/probe", cache=tmp_path / "cache")


def test_a_venv_is_built_once_and_reused_while_its_lock_holds(tool):
    program = tool.installed()
    assert program.exists() and tool.venv.name == "probe-1.0"
    assert (tool.venv / RECORD).read_text().strip() == tool.wanted_record()
    mark = tool.venv / "built-here"
    mark.touch()
    assert tool.installed() == program
    assert mark.exists(), "a current venv was rebuilt"


def test_a_venv_built_from_another_lock_is_rebuilt_not_reused(tool):
    tool.installed()
    mark = tool.venv / "built-here"
    mark.touch()
    (tool.venv / RECORD).write_text("0" * 64 + "\n")  # as if made from an older lock
    assert not tool.is_current()
    assert tool.installed().exists()
    assert not mark.exists(), "a stale venv was reused"
    assert tool.is_current()


def test_a_changed_lock_rebuilds_and_a_broken_tool_can_be_rebuilt(tool):
    tool.installed()
    (tool.venv / "built-here").touch()
    tool.lock.write_text(tool.lock.read_text() + "# refreshed\n")
    tool.installed()
    assert not (tool.venv / "built-here").exists()
    (tool.venv / "built-here").touch()
    tool.installed(rebuild=True)
    assert not (tool.venv / "built-here").exists()


def test_a_failed_install_names_the_tool_its_version_and_the_log(tool):
    tool.lock.write_text(tool.lock.read_text().replace("probe==1.0", "probe==1.0\nabsent==9"))
    with pytest.raises(ToolFailed) as failed:
        tool.installed()
    message = str(failed.value)
    assert message.startswith("probe 1.0: install failed")
    assert "absent" in message  # pip's own words about what it could not find
    assert not tool.venv.exists(), "a half-built venv was left to be trusted"
