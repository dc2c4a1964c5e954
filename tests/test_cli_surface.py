"""Every command documents itself, and start-up stays free of TensorFlow."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from labeler.cli.main import cli


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert cli.commands[command].help and "Usage:" in result.output


def test_cli_and_worker_import_without_tensorflow():
    code = ("import sys, labeler.cli.main, labeler.worker.tasks, labeler.worker.runner; "
            "bad = [m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
