"""How a test waits for the system: a condition polled until it holds, or a deadline passes
and the test fails saying what it waited for. No test sleeps for the system otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str | Callable[[], str],
               interval: float = 0.05) -> T:
    """The first truthy value of `condition()`; TimeoutError naming `what` (a text, or a
    function that tells the state at the time) when none comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            raise TimeoutError(f"waited {timeout:g} s for {said}")
        time.sleep(interval)


def answers(call: Callable[[], object], errors: tuple[type[BaseException], ...] = (OSError,)
            ) -> bool:
    """`call` returns without one of `errors`: a server that is up."""
    try:
        call()
    except errors:
        return False
    return True
