"""Error types every stage shares. The CLI turns each into one line and an exit status."""


class LabelerError(Exception):
    """Something the user can fix; the message says what to do."""


class UsageError(LabelerError):
    """The command was asked for something it cannot do (exit status 2, like a wrong flag)."""


class DecodeError(LabelerError):
    """An image that cannot be decoded. `reason` is a short code, `detail` a short phrase."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class BundleError(LabelerError):
    """A model bundle that is missing, incomplete or does not match its recorded checksum."""


class ServiceError(LabelerError):
    """Redis (or another service) cannot be reached or refused the request."""


class MissingExtraError(LabelerError):
    """A command needs an optional dependency group that is not installed."""

    def __init__(self, extra: str, module: str) -> None:
        super().__init__(
            f"this needs {module}, which comes with the [{extra}] extra: "
            f"pip install 'labeler[{extra}]'"
        )


class JobNotFound(LabelerError):
    """A job id Redis does not know: never submitted, forgotten, or past its time to live."""

    def __init__(self, *job_ids: str) -> None:
        self.job_ids = job_ids
        super().__init__(f"no job {', '.join(job_ids)} (it may have expired); "
                         "see: labeler status")



def import_extra(module: str, extra: str = "train"):
    """Import a module that needs an optional dependency group, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(extra, exc.name or module) from None
