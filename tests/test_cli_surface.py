"""Every command documents itself, and start-up stays free of TensorFlow."""

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from labeler.cli.main import cli
from labeler.cli.reference import _commands


@pytest.mark.parametrize("command", cli.list_commands(None))
def test_every_command_has_help(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert cli.get_command(None, command).help and "Usage:" in result.output


@pytest.mark.parametrize(("name", "command"), list(_commands(cli)))
def test_every_option_says_what_it_does_and_its_default(name, command):
    for option in command.params:
        if not isinstance(option, click.Option) or option.hidden:
            continue
        assert option.help, f"labeler {name} {option.opts[0]} has no help text"
        default = option.to_info_dict()["default"]  # None where none is set
        if default not in (None, False, ()) and not option.is_flag:
            assert option.show_default, f"labeler {name} {option.opts[0]} hides its default"


def test_cli_and_worker_import_without_tensorflow():
    code = ("import sys, labeler.cli.main, labeler.worker.tasks, labeler.worker.runner, "
            "labeler.web.app; "
            "bad = [m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_settings_table_is_the_generated_one():
    from labeler.cli.reference import settings_reference
    from tests.conftest import REPO

    operations = (REPO / "docs" / "operations.md").read_text()
    start = operations.index("-->\n", operations.index("<!-- settings:start")) + 4
    end = operations.index("<!-- settings:end -->")
    assert operations[start:end] == settings_reference(), (
        "docs/operations.md's settings table is stale: regenerate with "
        "python -m labeler.cli.reference settings")


def test_flag_reference_is_the_generated_one():
    from labeler.cli.reference import flag_reference
    from tests.conftest import REPO

    reference = (REPO / "docs" / "reference.md").read_text()
    start = reference.index("-->\n", reference.index("<!-- flags:start")) + 4
    end = reference.index("<!-- flags:end -->")
    assert reference[start:end] == flag_reference(), (
        "docs/reference.md is stale: regenerate with python -m labeler.cli.reference")


def test_ci_runs_the_readmes_test_command_word_for_word():
    from tests.conftest import REPO

    command = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert command.startswith("python3 -m venv .venv && ") and "-c locks/labeler.txt" in command
    assert f"\n{command}\n" in (REPO / "README.md").read_text()
