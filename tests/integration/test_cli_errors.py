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


def test_empty_folder_is_a_usage_error(labeler_home, redis_url, tmp_path):
    err = _one_line_error(run_cli(["submit", str(tmp_path)], cli_env(labeler_home, redis_url)),
                          2)
    assert "no images" in err and "jpg" in err


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("LABELER_CHUNK_IMAGES", "abc", "whole number"),
    ("LABELER_CHUNK_IMAGES", "0", "whole number >= 1"),
    ("LABELER_VISIBILITY_TIMEOUT", "10", "must exceed LABELER_TASK_TIME_LIMIT=90"),
    ("LABELER_REDIS_URL", "localhost:6379", "redis://"),
    ("LABELER_REDIS_MAXMEMORY", "lots", "memory size"),
])
def test_a_bad_setting_is_one_line_naming_it(labeler_home, tmp_path, variable, value, says):
    env = cli_env(labeler_home, **{variable: value})
    err = _one_line_error(run_cli(["submit", str(tmp_path)], env), 2)
    assert len(err.strip().splitlines()) == 1
    assert variable in err and value in err and says in err
    # doctor reports it as a failed check rather than refusing to start
    doctor = run_cli(["doctor"], env)
    assert doctor.returncode == 1 and f"[fail] settings: {variable}" in doctor.stdout


def test_doctor_names_the_redis_in_celerys_form_and_flags_unsafe_settings(
    labeler_home, redis_url
):
    env = cli_env(labeler_home, LABELER_RESULT_TTL="60", LABELER_CHUNK_IMAGE="9")
    out = run_cli(["doctor"], env).stdout
    assert f"redis+socket://{redis_url[len('unix://'):]}" in out
    assert "[warn] settings" in out and "LABELER_RESULT_TTL=60" in out
    assert "LABELER_CHUNK_IMAGE is not a labeler setting" in out


def test_forget_of_an_unknown_job_fails(labeler_home, redis_url):
    err = _one_line_error(run_cli(["forget", "nope"], cli_env(labeler_home, redis_url)), 1)
    assert "no job nope" in err


def test_wrong_flag(labeler_home):
    err = _one_line_error(run_cli(["submit", "--frobnicate", "."], cli_env(labeler_home)), 2)
    assert "No such option" in err


def test_a_recipe_refuses_the_options_it_sets_itself(labeler_home, tmp_path):
    err = _one_line_error(run_cli(["train", str(tmp_path), "--out", str(tmp_path / "run"),
                                   "--recipe", "cifar10-whitened-kd", "--epochs", "3",
                                   "--seed", "2"], cli_env(labeler_home)), 2)
    assert "--recipe sets every option itself; leave out --epochs, --seed" in err
    assert not (tmp_path / "run").exists()


def test_an_audit_of_nothing_says_what_to_give(labeler_home, tmp_path):
    err = _one_line_error(run_cli(["audit", str(tmp_path / "nope"), "-o",
                                   str(tmp_path / "a.csv")], cli_env(labeler_home)), 1)
    assert "nothing to audit at" in err and "image folder or a manifest" in err


def test_bad_output_extension(labeler_home, redis_url, tmp_path):
    err = _one_line_error(run_cli(["submit", str(tmp_path), "--wait", "-o", "out.xlsx"],
                                  cli_env(labeler_home, redis_url)), 2)
    assert ".csv, .jsonl or .parquet" in err


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


@pytest.mark.parametrize(("args", "code", "says"), [
    (["serve", "--cors-origin", "label-studio:8080"], 2, "not an origin"),
    (["serve", "--public-url", "labeler.lan:8000"], 2, "not a URL"),
    (["results", "some-job", "--format", "labelstudio"], 2, "--images"),
    (["results", "some-job", "--images", "served:http://h"], 2, "--format labelstudio"),
    (["results", "some-job", "--format", "labelstudio", "--images", "s3:bucket"], 1,
     "cannot read image address"),
])
def test_label_studio_options_that_cannot_work_are_one_line(labeler_home, redis_url, args, code,
                                                            says):
    err = _one_line_error(run_cli(args, cli_env(labeler_home, redis_url)), code)
    assert says in err


@pytest.mark.parametrize(("args", "says"), [
    (["serve", "--host", "0.0.0.0"], "needs sign-in: add --auth token"),
    (["serve", "--auth", "users"], "--auth users needs --users FILE"),
    (["serve", "--auth", "proxy"], "--auth proxy needs --proxy-address"),
    (["serve", "--auth", "proxy", "--proxy-address", "proxy.lan"], "not an IP address"),
    (["serve", "--users", "users.txt"], "--users goes with --auth users"),
    (["serve", "--auth", "users", "--users", "/nonexistent/users.txt"],
     "labeler users add /nonexistent/users.txt NAME"),
])
def test_sign_in_that_cannot_work_is_one_line_and_exit_2(labeler_home, args, says):
    assert says in _one_line_error(run_cli(args, cli_env(labeler_home)), 2)


def test_reviewed_refuses_an_export_that_is_not_labelers_tasks(labeler_home, tmp_path):
    export = tmp_path / "export.json"
    export.write_text('[{"id": 1, "data": {"image": "x.jpg"}, "annotations": []}]')
    err = _one_line_error(run_cli(["reviewed", str(export), "-o", str(tmp_path / "m.csv")],
                                  cli_env(labeler_home)), 1)
    assert "data.path" in err and not (tmp_path / "m.csv").exists()
