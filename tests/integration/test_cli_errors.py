"""Bad input from the user: one clear line, a non-zero exit, never a traceback."""

import pytest

from tests.conftest import cli_env, run_cli


def _one_line_error(proc, code):
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "Error" in proc.stderr
    return proc.stderr


def test_missing_folder(labeler_home, redis_url):
    err = _one_line_error(run_cli(["submit", "/no/such/folder"], cli_env(labeler_home,
                                                                           redis_url)), 2)
    assert "does not exist" in err


def test_empty_folder(labeler_home, redis_url, tmp_path):
    err = _one_line_error(run_cli(["submit", str(tmp_path)], cli_env(labeler_home, redis_url)),
                          1)
    assert "no images" in err


def test_wrong_flag(labeler_home):
    err = _one_line_error(run_cli(["submit", "--frobnicate", "."], cli_env(labeler_home)), 2)
    assert "No such option" in err


def test_bad_output_extension(labeler_home, redis_url, tmp_path):
    err = _one_line_error(run_cli(["submit", str(tmp_path), "--wait", "-o", "out.xlsx"],
                                  cli_env(labeler_home, redis_url)), 2)
    assert ".csv or .jsonl" in err


def test_unreachable_redis(labeler_home, tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    env = cli_env(labeler_home, "redis://127.0.0.1:1/0")
    err = _one_line_error(run_cli(["submit", str(tmp_path)], env), 1)
    assert "cannot reach Redis" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("content", [None, "{not json", '{"name": "x"}'])
def test_missing_or_broken_bundle(labeler_home, redis_url, tmp_path, content):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    if content is not None:
        (bundle / "bundle.json").write_text(content)
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.jpg").write_bytes(b"x")
    err = _one_line_error(run_cli(["submit", str(tmp_path / "img"), "--model", str(bundle)],
                                  cli_env(labeler_home, redis_url)), 1)
    assert "bundle" in err


def test_tampered_model_is_refused_by_the_worker(labeler_home, redis_url, tmp_path, bundle):
    import shutil

    copy = tmp_path / "bundle"
    shutil.copytree(bundle.path, copy)
    with open(copy / "model.onnx", "ab") as fh:
        fh.write(b"\0")
    err = _one_line_error(run_cli(["worker", "--model", str(copy), "--precision", "fp32"],
                                  cli_env(labeler_home, redis_url)), 1)
    assert "SHA-256" in err


def test_unknown_job(labeler_home, redis_url):
    err = _one_line_error(run_cli(["status", "nope"], cli_env(labeler_home, redis_url)), 1)
    assert "no job nope" in err


def test_output_without_wait_is_a_usage_error(labeler_home, tmp_path):
    err = _one_line_error(run_cli(["submit", str(tmp_path), "-o", "x.csv"],
                                  cli_env(labeler_home)), 2)
    assert "--wait" in err
