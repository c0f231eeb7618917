"""Checked big-endian reads over the kept payload bytes.

Every read checks its length first and raises :class:`Short` when the bytes end; the
parsers catch it and return what they could read. Kept bytes are a prefix of the payload
(and the payload may be snaplen-cut), so running out is normal, never an error.
"""
from __future__ import annotations

__all__ = ["Short", "u8", "u16", "u24", "u32", "take"]


class Short(Exception):
    """The bytes ended before a field did (internal to the parsers; never escapes)."""


def u8(buf: bytes, off: int) -> int:
    if off < 0 or off + 1 > len(buf):
        raise Short
    return buf[off]


def u16(buf: bytes, off: int) -> int:
    if off < 0 or off + 2 > len(buf):
        raise Short
    return (buf[off] << 8) | buf[off + 1]


def u24(buf: bytes, off: int) -> int:
    if off < 0 or off + 3 > len(buf):
        raise Short
    return (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2]


def u32(buf: bytes, off: int) -> int:
    if off < 0 or off + 4 > len(buf):
        raise Short
    return int.from_bytes(buf[off: off + 4], "big")


def take(buf: bytes, off: int, n: int) -> bytes:
    if off < 0 or n < 0 or off + n > len(buf):
        raise Short
    return bytes(buf[off: off + n])
