"""One value from a GGUF file's key-value header, read without loading the model.

gguf's GGUFReader maps every field and tensor of the file first: 40 s for a 262k-token
vocabulary on a busy machine. Startup checks only need a number near the start of the header,
so this reads the keys in order and stops at the one asked for.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

MAGIC = b"GGUF"
_STRING, _ARRAY = 8, 9
# Value types of fixed size: struct format of each (little-endian).
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_MAX_KEY_BYTES = 1 << 16  # a longer key means the file is not what it claims


class _Unreadable(Exception):
    pass


def header_value(path: str | Path, key: str | None = None, *, arch_key: str = "") -> object:
    """The value of `key` in the header, or None when the file has no such key or is not a
    readable GGUF (version 2 or 3, little-endian). With `arch_key`, the key is
    `<general.architecture>.<arch_key>`, e.g. arch_key="context_length"."""
    try:
        with open(path, "rb") as file:
            return _find(file, key, arch_key)
    except (OSError, _Unreadable, struct.error, UnicodeDecodeError):
        return None


def context_length(path: str | Path) -> int | None:
    """The context length the model was trained for (`<arch>.context_length`), if readable."""
    value = header_value(path, arch_key="context_length")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _find(file: BinaryIO, key: str | None, arch_key: str) -> object:
    if file.read(4) != MAGIC:
        return None
    (version,) = _unpack(file, "<I")
    if version not in (2, 3):
        return None
    _tensors, n_kv = _unpack(file, "<QQ")
    for _ in range(n_kv):
        name = _string(file)
        (kind,) = _unpack(file, "<I")
        if kind == _STRING:
            value: object = _string(file)
        elif kind in _SCALARS:
            (value,) = _unpack(file, _SCALARS[kind])
        elif kind == _ARRAY:
            _skip_array(file)
            continue
        else:
            return None
        if name == "general.architecture" and arch_key:
            key = f"{value}.{arch_key}"
        if name == key:
            return value
    return None


def _unpack(file: BinaryIO, fmt: str) -> tuple:
    size = struct.calcsize(fmt)
    data = file.read(size)
    if len(data) != size:
        raise _Unreadable("truncated header")
    return struct.unpack(fmt, data)


def _string(file: BinaryIO) -> str:
    (length,) = _unpack(file, "<Q")
    if length > _MAX_KEY_BYTES:
        # Strings worth reading (keys, the architecture) are short; others are skipped.
        file.seek(length, 1)
        return ""
    data = file.read(length)
    if len(data) != length:
        raise _Unreadable("truncated header")
    return data.decode("utf-8")


def _skip_array(file: BinaryIO) -> None:
    kind, count = _unpack(file, "<IQ")
    if kind in _SCALARS:
        file.seek(struct.calcsize(_SCALARS[kind]) * count, 1)
    elif kind == _STRING:
        # Each string ends where its length says; a corrupt count ends at the end of the file.
        for _ in range(count):
            (length,) = _unpack(file, "<Q")
            file.seek(length, 1)
    else:
        raise _Unreadable(f"unsupported array element type {kind}")
