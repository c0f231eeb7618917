"""Paths users give cnfpost to write to, checked before any work is done.

An OS error met while writing names whatever file the OS was handed (a temporary name
beside the target, for an atomic write) and, uncaught, is an internal error. Here each
problem becomes one input error that names the user's path and the option it came from:

    /nonexistent/x.json: expected a file --json can write, got no such directory
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .errors import InputError

__all__ = ["os_reason", "check_file", "check_dir", "output_error", "writes_in_place"]


def os_reason(exc: OSError) -> str:
    """What went wrong, without the file name an OSError carries (perhaps a temporary one)."""
    return (exc.strerror or type(exc).__name__).lower()


def _expected_file(option: str) -> str:
    return f"a file {option} can write"


def output_error(target: str | os.PathLike, option: str, exc: OSError) -> InputError:
    """The one-line error for an OSError met while writing ``target``."""
    return InputError(target, None, _expected_file(option), os_reason(exc))


def writes_in_place(target: str | os.PathLike) -> bool:
    """An existing target that is not a regular file (/dev/null, a FIFO, a symlink) is
    written in place: an atomic rename would replace the device or the link itself."""
    path = Path(target)
    return path.is_symlink() or (path.exists() and not path.is_file())


def check_file(target: str, option: str) -> None:
    """Refuse an output file that cannot be written ('-' is standard output)."""
    if target == "-":
        return
    path = Path(target)
    expected = _expected_file(option)
    if path.is_dir():
        raise InputError(target, None, expected, "a directory")
    if writes_in_place(path):
        if not os.access(path, os.W_OK):
            raise InputError(target, None, expected, "a file that is not writable")
        return
    _check_writable_dir(path.parent, target, expected)


def check_dir(target: str | os.PathLike, option: str) -> None:
    """Create an output directory (and its parents) or refuse it."""
    path = Path(target)
    expected = f"a directory {option} can create and write"
    if path.exists() and not path.is_dir():
        raise InputError(target, None, expected, "a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(target, None, expected, os_reason(exc)) from None
    _check_writable_dir(path, target, expected)


def _check_writable_dir(directory: Path, target: str | os.PathLike, expected: str) -> None:
    if not directory.exists():
        raise InputError(target, None, expected, "no such directory")
    if not directory.is_dir():
        raise InputError(target, None, expected, f"{str(directory)!r}, not a directory")
    # Creating a file is the only test that sees read-only mounts, quotas and /proc alike.
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise InputError(target, None, expected, os_reason(exc)) from None


# ----------------------------------------------------------------------------------------
# Writing and hashing files: the one home for both (batch, regress, the pipeline's inputs)
# ----------------------------------------------------------------------------------------

TMP_SUFFIX = ".tmp"  # write_atomic's temporary files: '.<name>.<random>.tmp'


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename it over ``path``: readers
    see the old file or the new one, never a part."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise output_error(path, "--out", exc) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs are ordinary files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):  # a full disk: one line naming the file, not the temp
            raise output_error(path, "--out", exc) from None
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class Digests:
    """The SHA-256 of input files, computed in a background thread while the analysis
    runs (hashlib and the decoder both release the GIL): a big capture is read twice, but
    not one read after the other. Only regular files are hashed early; a pipe is hashed
    where it is asked for, as before."""

    def __init__(self, paths) -> None:
        files = [p for p in paths if p is not None and str(p) != "-" and os.path.isfile(p)]
        self._pending = {}
        if files:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
            self._pending = {str(p): pool.submit(sha256_file, p) for p in files}
            pool.shutdown(wait=False)

    def sha256(self, path: str | os.PathLike) -> str:
        pending = self._pending.get(str(path))
        return pending.result() if pending is not None else sha256_file(path)


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file (hashlib reads it into one reused buffer)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
