"""Put on a worker's PYTHONPATH: a file whose bytes start with POISON kills the process that
opens it, the way a decoder crash would (SIGKILL: no Python handler runs)."""

import os
import signal

from PIL import Image

POISON = b"labeler-test-poison"
_open = Image.open


def _open_or_die(fp, *args, **kwargs):
    if hasattr(fp, "getvalue") and fp.getvalue().startswith(POISON):
        os.kill(os.getpid(), signal.SIGKILL)
    return _open(fp, *args, **kwargs)


if __name__ == "sitecustomize":  # imported by a test for POISON: patch nothing there
    Image.open = _open_or_die
