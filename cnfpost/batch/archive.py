"""Discovery and safe unpacking of an archive of run bundles (cnfpost batch).

    runs = discover("archive/", "out/.extracted")

An archive is a directory (bundles at any depth) or a ``.tar.gz`` of one; ``.tar.gz``
files found inside are opened too, and unpacked under the work directory (``extract_tar``)
within ``ExtractLimits``. Only regular files and directories with plain relative names
are unpacked; a symbolic link in a directory archive may point anywhere inside it, and one
that leaves it is refused, named, like a link in a ``.tar.gz``. A place that cannot be
read becomes a ``Run`` with an error, so one broken archive never stops a batch.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from os import PathLike
from pathlib import Path
from typing import Callable

from ..errors import InputError, describe_got, format_problem
from ..inputs.bundle import MANIFEST_NAME, is_bundle, load_manifest
from ..outputs import sha256_file

__all__ = ["ExtractLimits", "Run", "discover", "extract_tar", "relabel", "RATIO_SLACK",
           "TAR_SUFFIXES", "EXTRACTED"]

TAR_SUFFIXES = (".tar.gz", ".tgz")
EXTRACTED = ".extracted"


# ----------------------------------------------------------------------------------------
# Discovery
# ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExtractLimits:
    """What one .tar.gz may unpack to. An archive over a limit is rejected whole (it is
    recorded as a broken run): a bomb must not fill the disk before anyone notices."""

    max_members: int = 100_000
    max_member_bytes: int = 4 << 30    # one capture: tcpdump files are rotated well below
    max_total_bytes: int = 16 << 30
    max_depth: int = 3                 # .tar.gz inside .tar.gz inside ...
    # A member may unpack to at most 100 times its compressed bytes (plus RATIO_SLACK):
    # captures compress 2 to 10 times, a gigabyte of zeros a thousand times.
    max_ratio: int = 100


# The gzip reader takes compressed bytes in 128 KiB gulps: a member's own compressed size is
# known only to that much, so the ratio is held from 256 KiB of compressed input on.
RATIO_SLACK = 256 << 10


@dataclass(frozen=True)
class Run:
    """One run of the archive: a bundle to analyse, or a place that could not be read."""

    run_id: str
    source: str                 # relative to the archive, as users see it ("a/b.tar.gz/run1")
    bundle: str | None          # absolute path of the bundle directory (None: broken archive)
    probe: str = ""
    target: str = ""
    time: str = ""              # UTC, ISO 8601 ("2026-11-25T17:27:45Z"), "" when unknown
    error: str | None = None    # why it could not even be opened (archives)


@dataclass(frozen=True)
class _Found:
    source: str
    bundle: Path | None
    error: str | None = None


def discover(archive: str | PathLike, workdir: str | PathLike,
             limits: ExtractLimits = ExtractLimits()) -> list[Run]:
    """Every run under ``archive`` (a directory or a .tar.gz), with a unique run id.

    Tar archives are unpacked under ``workdir`` (see :func:`extract_tar`); one that cannot
    be unpacked is a run with an error. Sorted by source path: the same archive gives the
    same list.
    """
    # Absolute paths: Dask workers do not share this process's working directory.
    # realpath, not Path.resolve(): a symlink loop is a path to refuse, not a RuntimeError.
    archive = Path(os.path.realpath(archive))
    workdir = Path(os.path.realpath(workdir))
    if archive.is_dir():
        found = list(_walk(archive, "", workdir, limits, depth=0))
    elif archive.is_file() and archive.name.endswith(TAR_SUFFIXES):
        found = list(_walk_tar(archive, archive.name, workdir, limits, depth=1))
    else:
        got = "no such file or directory" if not archive.exists() else "some other file"
        raise InputError(archive, None, "a directory of run bundles or a .tar.gz of them", got)
    runs = [_identify(f) for f in sorted(found, key=lambda f: f.source)]
    return _unique_ids(runs)


def _walk(root: Path, shown: str, workdir: Path, limits: ExtractLimits,
          depth: int) -> Iterator[_Found]:
    skip = Path(os.path.realpath(workdir))
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel = here.relative_to(root).as_posix()
        label = _join(shown, "" if rel == "." else rel)
        if is_bundle(here):
            link = _escaping_link(here, root)
            if link is None:
                yield _Found(label or root.name, here)
            else:
                yield _Found(label or root.name, None,
                             _link_error(_join(label, link.relative_to(here).as_posix())))
            dirnames.clear()  # bundles do not nest (expected/, lab/ are theirs)
            continue
        # The same rule as tar members: a link that leaves the archive is refused, named.
        for name in sorted(dirnames + filenames):
            if not _stays_inside(here / name, root):
                yield _Found(_join(label, name), None, _link_error(_join(label, name)))
        filenames[:] = [f for f in filenames if _stays_inside(here / f, root)]
        # Hidden directories are not runs; the output directory may sit inside the archive.
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and Path(os.path.realpath(here / d)) != skip
                             and _stays_inside(here / d, root))
        for name in sorted(filenames):
            if name.endswith(TAR_SUFFIXES) and not name.startswith("."):
                yield from _walk_tar(here / name, _join(label, name), workdir, limits, depth + 1)


def _walk_tar(path: Path, shown: str, workdir: Path, limits: ExtractLimits,
              depth: int) -> Iterator[_Found]:
    if depth > limits.max_depth:
        yield _Found(shown, None, f"{shown}: expected archives nested at most "
                                  f"{limits.max_depth} deep, got deeper")
        return
    try:
        unpacked = extract_tar(path, workdir, limits)
    except InputError as err:
        yield _Found(shown, None, relabel(str(err), str(path), shown))
        return
    yield from _walk(unpacked, shown, workdir, limits, depth)


def _stays_inside(path: Path, root: Path) -> bool:
    """Not a symbolic link, or one whose target (followed all the way) is under ``root``.
    A link out of the archive would let a bundle read, and the index and summary quote,
    any file of this machine."""
    if not path.is_symlink():
        return True
    top = os.path.realpath(root)
    return os.path.realpath(path).startswith(top.rstrip(os.sep) + os.sep)


def _escaping_link(directory: Path, root: Path) -> Path | None:
    """The first link under ``directory`` that leaves ``root`` (links are not followed)."""
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in sorted(dirnames + filenames):
            if not _stays_inside(Path(dirpath) / name, root):
                return Path(dirpath) / name
    return None


def _link_error(shown: str) -> str:
    return format_problem(shown, None, "a file or directory inside the archive",
                          "a symbolic link that leaves it")


def _join(a: str, b: str) -> str:
    return f"{a}/{b}" if a and b else (a or b)


def relabel(message: str, actual: str, shown: str) -> str:
    """Messages name files by the archive's relative path, not where they were unpacked."""
    return message.replace(actual, shown)


def _identify(found: _Found) -> Run:
    """Probe, target and time from the manifest (when it can be read) and a run id."""
    probe = target = when = ""
    if found.bundle is not None and (found.bundle / MANIFEST_NAME).is_file():
        try:
            manifest = load_manifest(found.bundle / MANIFEST_NAME)
        except InputError:
            manifest = {}  # the analysis reports the manifest's problem as a warning
        probe = manifest.get("hostname") or ""
        target = manifest.get("target") or ""
        when = _utc(manifest)
    if probe and target and when:
        run_id = f"{probe}_{target}_{when.replace('-', '').replace(':', '')}"
    else:
        run_id = found.source.replace("/", "__") or "run"
    return Run(_safe_id(run_id), found.source, None if found.bundle is None else str(found.bundle),
               probe, target, when, found.error)


def _utc(manifest: Mapping) -> str:
    start = manifest.get("start_utc")
    if isinstance(start, str) and start:
        return start
    wall = manifest.get("start_wall")
    if isinstance(wall, (int, float)):
        return datetime.fromtimestamp(wall, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ""


def _safe_id(text: str) -> str:
    # A run id is a directory name under runs/: no separators, nothing hidden.
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")
    return cleaned[:150] or "run"


def _unique_ids(runs: list[Run]) -> list[Run]:
    """Runs that would share an id (copies of one bundle) get a suffix from their source."""
    count = Counter(r.run_id for r in runs)
    out = []
    for r in runs:
        if count[r.run_id] > 1:
            suffix = hashlib.sha256(r.source.encode()).hexdigest()[:8]
            r = Run(f"{r.run_id}-{suffix}", r.source, r.bundle, r.probe, r.target, r.time, r.error)
        out.append(r)
    return out


# ----------------------------------------------------------------------------------------
# Safe extraction
# ----------------------------------------------------------------------------------------

def extract_tar(path: str | PathLike, workdir: str | PathLike,
                limits: ExtractLimits = ExtractLimits()) -> Path:
    """Unpack a .tar.gz into ``workdir/<its sha256>/`` and return that directory.

    Only regular files and directories with plain relative names are accepted; an absolute
    name, a '..' component, a link, a device or FIFO, or a size over ``limits`` rejects the
    whole archive (InputError) and nothing of it is kept. The archive is unpacked into a
    temporary directory renamed into place at the end, so an interrupted batch never
    reuses half an archive; an archive already unpacked (same sha256) is reused.
    """
    path = Path(path)
    digest = sha256_file(path)
    dest = Path(workdir) / digest[:32]
    if dest.is_dir():
        return dest
    Path(workdir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=workdir))
    try:
        _unpack(path, tmp, limits)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _unpack(path: Path, dest: Path, limits: ExtractLimits) -> None:
    """One streaming pass: each header is checked before its member is written. A bad
    member later on still rejects the archive: extract_tar removes the whole directory."""
    total = members = 0
    try:
        with open(path, "rb") as packed, gzip.GzipFile(fileobj=packed) as raw, \
                tarfile.open(fileobj=_Bounded(raw, path, limits.max_total_bytes + _TAR_SLACK),
                             mode="r|") as tar:
            for member in tar:
                members += 1
                if members > limits.max_members:
                    raise InputError(path, None, f"at most {limits.max_members} members",
                                     "more")
                parts = _member_parts(path, member)
                target = dest.joinpath(*parts) if parts else dest
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if member.size > limits.max_member_bytes:
                    raise InputError(path, _member(member.name),
                                     f"at most {limits.max_member_bytes} bytes",
                                     f"{member.size} bytes")
                total += member.size
                if total > limits.max_total_bytes:
                    raise InputError(path, None, f"at most {limits.max_total_bytes} bytes "
                                     "unpacked", "more")
                target.parent.mkdir(parents=True, exist_ok=True)
                # O_EXCL: a name seen twice is not silently overwritten (nor followed).
                with tar.extractfile(member) as source, open(target, "xb") as out:
                    _copy_exact(source, out, member.size,
                                _ratio_check(path, member.name, packed, limits.max_ratio))
    except InputError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise InputError(path, None, "a readable .tar.gz archive",
                         f"{type(exc).__name__}: {exc}") from None


# Headers, long-name and pax records, and block padding on top of the members' own bytes.
_TAR_SLACK = 64 << 20


class _Bounded:
    """The decompressed stream, cut off at a limit. Member sizes are checked from their
    headers, but tarfile reads pax and long-name records whole into memory: without this a
    small .tar.gz could expand into gigabytes before any header is seen."""

    def __init__(self, raw, path: Path, limit: int):
        self._raw, self._path, self._left = raw, path, limit

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size if size >= 0 else self._left + 1)
        self._left -= len(data)
        if self._left < 0:
            raise InputError(self._path, None, "an archive that unpacks within the size limit",
                             "more")
        return data


def _member_parts(path: Path, member: tarfile.TarInfo) -> tuple[str, ...]:
    name = member.name
    if not (member.isfile() or member.isdir()):
        kind = ("a symbolic link" if member.issym() else "a hard link" if member.islnk()
                else "a device" if (member.ischr() or member.isblk())
                else "a FIFO" if member.isfifo() else "a special member")
        raise InputError(path, _member(name), "regular files and directories only", kind)
    if name.startswith("/") or "\\" in name or "\0" in name:
        raise InputError(path, _member(name), "a relative path", "an absolute or odd name")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise InputError(path, _member(name), "a path inside the archive", "'..' in it")
    return parts


def _member(name: str) -> str:
    """A member's name as messages show it: escaped, and short (names are the input's)."""
    return f"member {describe_got(name, 80)}"


def _copy_exact(source, out, size: int, check: Callable[[int], None]) -> None:
    """Copy exactly the header's size: a member cannot write more than it declared.
    ``check(bytes written)`` runs after every chunk, to stop a bomb early."""
    left = size
    while left:
        chunk = source.read(min(left, 1 << 20))
        if not chunk:
            raise EOFError("member cut short")
        out.write(chunk)
        left -= len(chunk)
        check(size - left)


def _ratio_check(path: Path, name: str, packed, ratio: int) -> Callable[[int], None]:
    """Refuse a member once it has unpacked to more than ``ratio`` times the compressed
    bytes read since it began (``packed`` is the compressed file)."""
    start = packed.tell()

    def check(written: int) -> None:
        compressed = packed.tell() - start
        if written > ratio * (compressed + RATIO_SLACK):
            raise InputError(path, _member(name), f"at most {ratio}:1 expansion",
                             f"{written} bytes from {compressed} compressed")
    return check
