"""Memory that a big capture's stages free goes back to the system (glibc; elsewhere
nothing happens).

A command's peak memory is what a user sizes a machine by (docs/performance.md), and
glibc keeps freed memory resident in two ways this module undoes:

- It raises its mmap threshold to the size of each big block freed, up to 32 MiB, so the
  next columns of a large capture come from the heap and stay resident after they are
  freed. A fixed 4 MiB (a column of a million-packet capture) keeps such arrays in their
  own mappings; smaller temporaries still reuse the heap, which a lower threshold would
  trade for page faults (measured: docs/performance.md).
- The block-at-a-time temporaries of a stage (each under the threshold) leave free pages
  inside the heap that are only returned when trimmed: 13 MB after the TCP analysis of a
  million packets. The pipeline trims once after each stage over the whole capture.
"""
from __future__ import annotations

import ctypes
import functools

__all__ = ["fix_mmap_threshold", "release_freed"]

M_MMAP_THRESHOLD = -3


@functools.cache
def _libc_function(name: str):
    """A function of the C library, or None where it has none of that name."""
    try:
        return getattr(ctypes.CDLL(None), name, None)
    except OSError:
        return None


def fix_mmap_threshold(size: int = 4 << 20) -> None:
    """Arrays of `size` bytes and more get their own mappings, returned when freed."""
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        mallopt(ctypes.c_int(M_MMAP_THRESHOLD), ctypes.c_int(size))


def release_freed() -> None:
    """Return the heap's free pages to the system (about a millisecond)."""
    malloc_trim = _libc_function("malloc_trim")
    if malloc_trim is not None:
        malloc_trim(ctypes.c_size_t(0))
