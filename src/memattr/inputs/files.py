"""Input files, bounded: a regular file (or ``-`` for standard input) of at most a stated size.

:func:`read_text` is the one way memattr reads a file a user names.  The file is opened with
``O_NONBLOCK`` (a FIFO without a writer does not block the open) and checked with ``fstat``
before a byte is read: a FIFO, a directory, ``/dev/zero`` or any other device is refused.  At
most :func:`max_input` bytes are read (16 MiB unless ``MEMATTR_MAX_INPUT`` says otherwise,
e.g. ``MEMATTR_MAX_INPUT=64M``), so a file that grows or lies about its size cannot exhaust
memory; standard input is read with the same bound.  Errors name the file (escaped, see
:func:`memattr.inputs.escape.show_path`) and say what was expected; they are
:class:`~memattr.errors.ConfigError` for a file that cannot be used and
:class:`~memattr.errors.ParseError` for text that is not UTF-8.
"""

from __future__ import annotations

import os
import stat

from ..errors import ConfigError, ParseError
from .escape import show, show_path

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = [
    "DEFAULT_MAX_INPUT",
    "MAX_INPUT_ENV",
    "STDIN",
    "max_input",
    "display_name",
    "check_path",
    "read_bytes",
    "open_stream",
    "read_text",
]

DEFAULT_MAX_INPUT = 16 << 20
"""The default bound on an input file, in bytes (16 MiB)."""

MAX_INPUT_ENV = "MEMATTR_MAX_INPUT"
"""The environment variable that overrides :data:`DEFAULT_MAX_INPUT` (a size such as '64M')."""

STDIN = "-"
"""The file name that means standard input."""

_EXPECTED = "expected a regular file, or '-' for standard input"


def max_input() -> int:
    """The input size bound in force: ``MEMATTR_MAX_INPUT`` if set, else 16 MiB."""
    raw = os.environ.get(MAX_INPUT_ENV)
    if raw is None or raw.strip() == "":
        return DEFAULT_MAX_INPUT
    from .units import parse_size

    try:
        value = parse_size(raw)
    except ValueError:
        value = -1
    if value <= 0:
        raise ConfigError(f"{MAX_INPUT_ENV}={show(raw)}: not a size (expected a positive size "
                          "such as '64M')")
    return value


def display_name(path: str | os.PathLike[str]) -> str:
    """How messages name the file: '<stdin>' for '-', else the escaped (and shortened) name."""
    return "<stdin>" if os.fspath(path) == STDIN else show_path(path)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _human(n: int) -> str:
    """'16 MiB' for an exact multiple of a unit, else a byte count."""
    from .units import format_size

    text = format_size(n)
    return f"{text[:-1]} {text[-1]}iB" if text[-1] in "KMGTPE" else f"{n} bytes"


def _too_big(name: str, size: int | None, limit: int) -> ConfigError:
    got = f"{size} bytes" if size is not None else f"more than {limit} bytes"
    return ConfigError(f"{name}: too large, {got} (expected at most {_human(limit)}; set "
                       f"{MAX_INPUT_ENV} to raise the bound)")


def _open_error(name: str, what: str, exc: OSError) -> ConfigError:
    reason = exc.strerror or type(exc).__name__
    return ConfigError(f"{name}: cannot read {what}: {reason}")


def check_path(path: str | os.PathLike[str], *, what: str = "file", arg: str | None = None,
               stdin: bool = True) -> None:
    """Refuse a name that can never be a usable input file (empty, NUL) before opening it.

    :param path: the name as given.
    :param what: what the file is, for messages ('scenario file').
    :param arg: the command-line argument that gave it ('FILE'), named in the message.
    :param stdin: whether '-' (standard input) is accepted.
    """
    text = os.fspath(path)
    label = f"{arg}=" if arg else ""
    if text == "":
        raise ConfigError(f"{label}'': empty file name (expected the path of a {what}"
                          + (", or '-' for standard input)" if stdin else ")"))
    if "\0" in text:
        raise ConfigError(f"{label}{show_path(text)}: a file name cannot contain NUL "
                          f"(expected the path of a {what})")
    if text == STDIN and not stdin:
        raise ConfigError(f"{label}'-': standard input is not accepted here (expected the path "
                          f"of a {what})")


def read_bytes(path: str | os.PathLike[str], *, what: str = "file", limit: int | None = None,
               arg: str | None = None, stdin: bool = True) -> bytes:
    """The bytes of an input file, bounded and without blocking.

    :param path: a file name, or '-' for standard input.
    :param what: what the file is, for messages ('scenario file').
    :param limit: the size bound in bytes (default :func:`max_input`).
    :param arg: the command-line argument that named the file, for messages about the name.
    :param stdin: whether '-' means standard input.
    """
    check_path(path, what=what, arg=arg, stdin=stdin)
    bound = max_input() if limit is None else limit
    name = display_name(path) if stdin else show_path(path)
    if stdin and os.fspath(path) == STDIN:
        import sys

        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise ConfigError(f"<stdin>: cannot read {what}: standard input is closed")
        try:
            data = stream.read(bound + 1)
        except OSError as exc:
            raise _open_error(name, what, exc) from None
        if len(data) > bound:
            raise _too_big(name, None, bound)
        return bytes(data)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _open_error(name, what, exc) from None
    except ValueError as exc:  # e.g. an embedded NUL slipped through a PathLike
        raise ConfigError(f"{name}: cannot read {what}: {exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{name}: {_kind(st.st_mode)} ({_EXPECTED})")
        if st.st_size > bound:
            raise _too_big(name, st.st_size, bound)
        chunks: list[bytes] = []
        total = 0
        while total <= bound:
            chunk = os.read(fd, min(1 << 20, bound + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > bound:
            raise _too_big(name, None, bound)
        return b"".join(chunks)
    except OSError as exc:
        raise _open_error(name, what, exc) from None
    finally:
        os.close(fd)


def open_stream(path: str | os.PathLike[str], *, what: str = "file", arg: str | None = None,
                stdin: bool = True) -> tuple[BinaryIO, int | None]:
    """An input file opened for streaming (no size bound: the reader reads it in pieces).

    The same checks as :func:`read_bytes` before a byte is read (a name that cannot be a file,
    a FIFO, a directory or a device is refused); '-' is standard input.

    :returns: the binary stream (the caller closes it) and the file's size (None for stdin).
    """
    check_path(path, what=what, arg=arg, stdin=stdin)
    name = display_name(path) if stdin else show_path(path)
    if stdin and os.fspath(path) == STDIN:
        import sys

        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise ConfigError(f"<stdin>: cannot read {what}: standard input is closed")
        return stream, None
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _open_error(name, what, exc) from None
    except ValueError as exc:
        raise ConfigError(f"{name}: cannot read {what}: {exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{name}: {_kind(st.st_mode)} ({_EXPECTED})")
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


def read_text(path: str | os.PathLike[str], *, what: str = "file", limit: int | None = None,
              arg: str | None = None, stdin: bool = True) -> str:
    """The UTF-8 text of an input file (bounded as :func:`read_bytes`; a leading BOM dropped).

    :raises ParseError: the bytes are not UTF-8 (the message gives the line).
    """
    data = read_bytes(path, what=what, limit=limit, arg=arg, stdin=stdin)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        name = display_name(path) if stdin else show_path(path)
        raise ParseError(f"{name}:{line}: not UTF-8 text: {exc.reason} at byte {exc.start} "
                         f"(expected a UTF-8 text file)") from None
    return text.removeprefix("\ufeff")
