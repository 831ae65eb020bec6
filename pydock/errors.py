"""The one error hierarchy of pydock.

Library code raises these; the CLI maps them to Docker's exit codes and prints one line.
"""

from __future__ import annotations


class PydockError(Exception):
    """Base of every error pydock raises on purpose. `exit_code` follows Docker's convention."""

    exit_code = 125


class UsageError(PydockError):
    """A flag, option or argument is malformed or out of range."""


class NotFoundError(PydockError):
    """A container, image, volume or other named object does not exist."""


class ConflictError(PydockError):
    """A name is in use, an image is in use, a container is in the wrong state."""


class ImageError(PydockError):
    """An image or archive is unreadable or unsafe (for example a path escaping the root)."""


class RegistryError(PydockError):
    """A registry refused a request or cannot be reached; the message names the registry and why."""


class AuthError(RegistryError):
    """A registry refused the credentials (or wants some): `unauthorized: ...`."""


class BuildError(PydockError):
    """`pydock build` failed: a Dockerfile that does not parse (`Dockerfile:3: ...`), a missing
    context or source, a RUN that exited non-zero. Exit status 1, as `docker build`'s."""

    exit_code = 1


class RuntimeFailure(PydockError):
    """A syscall or the kernel refused something while making or running a container."""


class CommandNotInvokable(PydockError):
    """The container's command exists but cannot be executed (Docker's 126)."""

    exit_code = 126


class CommandNotFound(PydockError):
    """The container's command does not exist in its root filesystem (Docker's 127)."""

    exit_code = 127


class LogOptError(UsageError):
    """A `--log-opt` key or value is not valid for the chosen driver; the message names it."""


class CgroupError(PydockError):
    """Reading or writing a cgroup file failed; the message names the path."""


class ConfigError(PydockError):
    """A configuration file (daemon.json, collector.yml, rule files) is invalid; names file and line."""


class NeedsRootError(PydockError):
    """The operation needs root (namespaces, cgroups, mounts)."""


class StorageError(PydockError):
    """The collector's TSDB cannot open, read or write its database; the message names the path."""


class PromQLError(PydockError):
    """A PromQL expression does not parse (`column` is its 1-based column) or cannot be evaluated.

    `kind` follows Prometheus's API `errorType`: "bad_data" for parse and argument errors (HTTP 400),
    "execution" for errors found while evaluating, such as many-to-many matching (HTTP 422).
    """

    def __init__(self, message: str, column: int | None = None, kind: str = "bad_data") -> None:
        super().__init__(message)
        self.column = column
        self.kind = kind
