"""Minimal reader of the Siemens CSA2 ("SV10") private header, (0029,1010) / (0029,1020).

Only what ingestion needs: a name -> list of string values mapping. CSA1 (pre-VB13) headers are
not parsed; callers fall back to the plain private tags (0019,100A) and (0019,100C).
"""

from __future__ import annotations

import struct

#: CSA items are capped to guard against corrupt headers (the largest real ones hold ~100 tags).
_MAX_TAGS = 1000
_MAX_ITEMS = 1000


def parse_csa2(raw: bytes) -> dict[str, list[str]]:
    """Parse a CSA2 header into ``{name: [values as text]}``.

    Parameters
    ----------
    raw
        The bytes of (0029,1010) (image) or (0029,1020) (series).

    Returns
    -------
    dict
        Empty when ``raw`` is not a CSA2 header or is truncated.
    """
    if len(raw) < 16 or raw[:4] != b"SV10":
        return {}
    out: dict[str, list[str]] = {}
    try:
        (n_tags,) = struct.unpack_from("<I", raw, 8)
        if n_tags > _MAX_TAGS:
            return {}
        pos = 16
        for _ in range(n_tags):
            name = raw[pos : pos + 64].split(b"\x00", 1)[0].decode("latin-1")
            (n_items,) = struct.unpack_from("<i", raw, pos + 76)
            pos += 84
            if not 0 <= n_items <= _MAX_ITEMS:
                return out
            values: list[str] = []
            for _ in range(n_items):
                item_len = struct.unpack_from("<4i", raw, pos)[1]
                pos += 16
                if item_len < 0 or pos + item_len > len(raw):
                    return out
                text = raw[pos : pos + item_len].split(b"\x00", 1)[0].decode("latin-1").strip()
                if text:
                    values.append(text)
                pos += (item_len + 3) // 4 * 4
            out[name] = values
    except struct.error:
        return out
    return out


def csa_float(header: dict[str, list[str]], name: str) -> float | None:
    """First value of ``name`` as a float, or ``None``."""
    values = csa_floats(header, name)
    return values[0] if values else None


def csa_floats(header: dict[str, list[str]], name: str) -> list[float]:
    """All values of ``name`` as floats (unparseable values dropped)."""
    out: list[float] = []
    for text in header.get(name, []):
        try:
            out.append(float(text))
        except ValueError:
            continue
    return out
