"""A Redis with a password and an ACL user (default user disabled), reached by URL: the whole
path works with the right credentials and fails with one line with the wrong ones."""

import json

import pytest

from tests.conftest import REPO, cli_env, run_cli, start_worker, stop_process


def test_acl_user_with_password_labels_through_a_url(acl_redis, labeler_home):
    url = f"redis://labeler:s3cret-pass@127.0.0.1:{acl_redis}/0"
    env = cli_env(labeler_home, url)
    worker = start_worker(env)
    try:
        proc = run_cli(["submit", str(REPO / "examples" / "images"), "--wait", "--json",
                        "--timeout", "60"], env)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout.splitlines()[-1])["labelled"] == 40
    finally:
        stop_process(worker)


@pytest.mark.parametrize("url", ["redis://labeler:wrong@127.0.0.1:{port}/0",
                                 "redis://127.0.0.1:{port}/0", "http://127.0.0.1:{port}"])
def test_wrong_credentials_or_url_are_one_clear_line(acl_redis, labeler_home, url):
    env = cli_env(labeler_home, url.format(port=acl_redis))
    proc = run_cli(["status"], env)
    # A URL that is not a Redis URL is a bad setting (2); a refused one a failure (1).
    expected = 2 if url.startswith("http") else 1
    assert proc.returncode == expected and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "s3cret" not in proc.stderr
