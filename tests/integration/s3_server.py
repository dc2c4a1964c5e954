"""A real S3-protocol server for the bucket tests: moto's server mode (the one s3fs's own test
suite uses), installed from locks/moto.txt into the test cache and started on a free loopback
port with its access checks on, so wrong credentials are refused as a real store refuses them.

The first requests, unchecked, make a user with its own access key and a policy that allows
S3; everything after them is checked against that key.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from tests.pinned_tools import REPO, PinnedTool, ToolFailed
from tests.waiting import answers, wait_until

MOTO = PinnedTool("moto", REPO / "locks" / "moto.txt", "bin/moto_server")
REGION = "eu-west-1"
# The requests that make the user, its key and its policy.
SETUP_REQUESTS = 3


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen
    key: str = ""
    secret: str = ""

    def env(self, base: dict, *, key: str | None = None, endpoint: str | None = None) -> dict:
        """`base` with this server as the S3 endpoint and its credentials (or `key`, which
        it does not know), as the standard credential chain reads them."""
        return {**base, "AWS_ENDPOINT_URL": endpoint or self.endpoint,
                "AWS_ACCESS_KEY_ID": key or self.key,
                "AWS_SECRET_ACCESS_KEY": "wrong-secret" if key else self.secret,
                "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(key=self.key, secret=self.secret, skip_instance_cache=True,
                                 endpoint_url=self.endpoint,
                                 client_kwargs={"region_name": REGION})

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait()


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(log_dir: Path) -> S3Server:
    """moto on a free port, answering, with a user whose key the tests use."""
    try:
        return _start(log_dir, MOTO.installed())
    except ToolFailed:
        if not MOTO.is_current():
            raise
    return _start(log_dir, MOTO.installed(rebuild=True))


def _start(log_dir: Path, program: Path) -> S3Server:
    port = free_port()
    log = log_dir / "moto.log"
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_REQUESTS)}
    with open(log, "w") as out:
        process = subprocess.Popen([str(program), "-H", "127.0.0.1", "-p", str(port)],
                                   env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{port}", process)

    def started() -> bool:
        if process.poll() is not None:
            raise MOTO.failure(f"exited with status {process.returncode} at start", log)
        return answers(lambda: socket.create_connection(("127.0.0.1", port), 1).close(),
                       (OSError,))

    try:
        wait_until(started, 60, "moto to answer", interval=0.2)
    except TimeoutError:
        server.stop()
        raise MOTO.failure("did not answer on its port within 60 s", log) from None
    server.key, server.secret = _make_user(server.endpoint)
    return server


def _make_user(endpoint: str) -> tuple[str, str]:
    import botocore.session

    iam = botocore.session.get_session().create_client(
        "iam", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="setup",
        aws_secret_access_key="setup")
    iam.create_user(UserName="labeler-tests")
    key = iam.create_access_key(UserName="labeler-tests")["AccessKey"]
    iam.put_user_policy(UserName="labeler-tests", PolicyName="s3", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    return key["AccessKeyId"], key["SecretAccessKey"]


class StalledStore:
    """A port that takes connections and never answers: a store that stalls."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)  # the kernel completes the handshakes; nobody reads
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()
