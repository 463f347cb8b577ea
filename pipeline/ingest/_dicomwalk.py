"""The element walk of the fast DICOM header reader (:mod:`._fastdicom`).

Little-endian element streams (explicit or implicit VR) are walked with :mod:`struct` into an
index ``tag -> (VR code, value offset, value length)``; sequences are walked into per-item
indexes. Nothing is decoded here.
"""

from __future__ import annotations

import struct
from pathlib import Path

from pydicom.tag import Tag

#: Bytes read first; files whose header runs past them are read whole.
HEAD_BYTES = 1 << 16
#: Pixel data elements: the top-level walk stops there, as pydicom's ``stop_before_pixels``.
PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00009, 0x7FE00008})

_LONG_VRS = ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV")
_SHORT_VRS = (
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT",
    "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US",
)  # fmt: skip


def vr_code(vr: str) -> int:
    """A VR's two ASCII letters read as a little-endian 16-bit number (how the walk sees it)."""
    return int.from_bytes(vr.encode("ascii"), "little")


def _vr_text(code: int) -> str:
    return code.to_bytes(2, "little").decode("latin-1")


_LONG_VR_CODES = frozenset(vr_code(vr) for vr in _LONG_VRS)
_SHORT_VR_CODES = frozenset(vr_code(vr) for vr in _SHORT_VRS)
_SQ_CODE = vr_code("SQ")
VR_NAMES = {vr_code(vr): vr for vr in (*_LONG_VRS, *_SHORT_VRS)}
_UNDEFINED = 0xFFFFFFFF
NO_LIMIT = 1 << 32  # above every tag
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_TAG = struct.Struct("<HH")
_EXPLICIT_HEAD = struct.Struct("<HHHH")  # group, element, VR (2 ASCII letters as a number), length
_IMPLICIT_HEAD = struct.Struct("<HHL")
_U32 = struct.Struct("<L")

#: ``(VR as written (see :func:`vr_code`) or None for implicit VR, value offset, value
#: length)``; length -1: an undefined-length sequence, already walked.
Entry = tuple[int | None, int, int]
#: Items of a walked sequence: per item its element index and its walked sequences.
Items = list[tuple[dict[int, Entry], dict[int, "Items"]]]


class FastReadError(Exception):
    """The fast reader cannot give pydicom's answer for this file; read it with pydicom."""


class NeedMore(Exception):
    """The header runs past the bytes read so far."""


# ---------------------------------------------------------------------- element walk
#: What a walk returns: the position after the last element indexed, the last tag indexed,
#: and whether it stopped at an element beyond ``until`` (not indexed; more may follow).
WalkEnd = tuple[int, int, bool]


def _walk(
    buf: bytes,
    pos: int,
    end: int,
    explicit: bool,
    index: dict[int, Entry],
    seqs: dict[int, Items],
    *,
    top: bool,
    item: bool,
    until: int = NO_LIMIT,
) -> WalkEnd:
    """Index the elements from ``pos``.

    Stops at pixel data (``top``), at an item delimiter (``item``, undefined-length item), at
    ``end``, or before the first element whose tag is above ``until``. Raises
    :class:`NeedMore` when an element runs past the end of ``buf``, :class:`FastReadError`
    on an element out of ascending tag order.
    """
    walk = _walk_explicit if explicit else _walk_implicit
    done = walk(buf, pos, end, index, seqs, top, item, until)
    if done[0] > end:
        raise FastReadError("element runs past the end of its item")
    return done


def _special(tag: int, pos: int, top: bool, item: bool) -> int | None:
    """Where a walk stops at ``tag`` (pixel data, item delimiter), or ``None`` to go on."""
    if tag >> 16 == 0xFFFE:
        if item and tag == _ITEM_END:
            return pos + 8
        raise FastReadError(f"unexpected delimiter {Tag(tag)}")
    if top and tag in PIXEL_TAGS:
        return pos
    return None


def _walk_explicit(
    buf: bytes,
    pos: int,
    end: int,
    index: dict[int, Entry],
    seqs: dict[int, Items],
    top: bool,
    item: bool,
    until: int,
) -> WalkEnd:
    head = _EXPLICIT_HEAD.unpack_from
    long_vrs = _LONG_VR_CODES
    short_vrs = _SHORT_VR_CODES
    last = -1
    try:
        while pos < end:
            group, element, vr, length = head(buf, pos)
            tag = (group << 16) | element
            if tag > until:
                return pos, last, True
            if tag <= last:  # out of order (or repeated): pydicom's last-one-wins is its business
                raise FastReadError(f"element {Tag(tag)} out of ascending order")
            if group >= 0x7FE0:
                if item and tag == _ITEM_END:
                    return pos + 8, last, False
                stop = _special(tag, pos, top, item)
                if stop is not None:
                    return stop, last, False
            last = tag
            if vr in short_vrs:
                pos += 8
            elif vr in long_vrs:
                length = _U32.unpack_from(buf, pos + 8)[0]
                pos += 12
                if length == _UNDEFINED:
                    if vr != _SQ_CODE:
                        raise FastReadError(f"{_vr_text(vr)} of undefined length at {Tag(tag)}")
                    seqs[tag], pos = walk_sequence(buf, pos, None, True)
                    index[tag] = (vr, pos, -1)
                    continue
            else:
                raise FastReadError(f"unknown VR {_vr_text(vr)} at {Tag(tag)}")
            index[tag] = (vr, pos, length)
            pos += length
    except struct.error as exc:  # an element header past the end of the bytes read
        raise NeedMore from exc
    if pos > len(buf):
        raise NeedMore
    return pos, last, False


def _walk_implicit(
    buf: bytes,
    pos: int,
    end: int,
    index: dict[int, Entry],
    seqs: dict[int, Items],
    top: bool,
    item: bool,
    until: int,
) -> WalkEnd:
    size = len(buf)
    head = _IMPLICIT_HEAD.unpack_from
    last = -1
    while pos < end:
        if pos + 8 > size:
            raise NeedMore
        group, element, length = head(buf, pos)
        tag = (group << 16) | element
        if tag > until:
            return pos, last, True
        if tag <= last:
            raise FastReadError(f"element {Tag(tag)} out of ascending order")
        if group >= 0x7FE0:
            if item and tag == _ITEM_END:
                return pos + 8, last, False
            stop = _special(tag, pos, top, item)
            if stop is not None:
                return stop, last, False
        last = tag
        pos += 8
        if length == _UNDEFINED:  # a sequence (pydicom reads it as one, whatever the tag)
            seqs[tag], pos = walk_sequence(buf, pos, None, False)
            index[tag] = (None, pos, -1)
            continue
        index[tag] = (None, pos, length)
        pos += length
        if pos > size:
            raise NeedMore
    return pos, last, False


def walk_meta(buf: bytes, index: dict[int, Entry]) -> int:
    """Index the file meta elements (explicit VR, group 0002) after the preamble."""
    pos = 132
    size = len(buf)
    while pos + 8 <= size and _TAG.unpack_from(buf, pos)[0] == 0x0002:
        pos = _walk_explicit(buf, pos, pos + 1, index, {}, False, False, NO_LIMIT)[0]
    return pos


class LazyWalk:
    """Where the top-level walk of one file stands; it goes on only as far as asked.

    ``last`` is the highest tag up to which the index is complete (:data:`NO_LIMIT` once the
    walk has finished). When the walk runs past the bytes read so far, the whole file is read.
    """

    __slots__ = ("buf", "complete", "explicit", "last", "path", "pos")

    def __init__(self, buf: bytes, pos: int, explicit: bool, path: Path | None) -> None:
        self.buf = buf
        self.pos = pos
        self.explicit = explicit
        self.path = path
        self.complete = path is None or len(buf) < HEAD_BYTES
        self.last = -1

    def reach(self, tag: int, index: dict[int, Entry], seqs: dict[int, Items]) -> bytes:
        """Index on until every element with a tag up to ``tag`` is in ``index``; the buffer."""
        while True:
            try:
                pos, last, more = _walk(
                    self.buf, self.pos, len(self.buf), self.explicit, index, seqs,
                    top=True, item=False, until=tag,
                )  # fmt: skip
                break
            except NeedMore:
                self._read_all()
            except struct.error as exc:
                raise FastReadError(f"malformed element ({exc})") from exc
        self.pos = pos
        self.last = max(self.last, last, tag) if more else NO_LIMIT
        return self.buf

    def _read_all(self) -> None:
        if self.complete or self.path is None:
            raise FastReadError("the file ends inside an element (truncated)")
        try:
            whole = self.path.read_bytes()
        except OSError as exc:
            raise FastReadError(f"cannot read the rest of the file ({exc})") from exc
        if not whole.startswith(self.buf):
            raise FastReadError("the file changed while it was read")
        self.buf, self.complete = whole, True


def walk_sequence(buf: bytes, pos: int, end: int | None, explicit: bool) -> tuple[Items, int]:
    """Items of a sequence starting at ``pos`` (``end`` None: undefined length)."""
    size = len(buf)
    walk = _walk_explicit if explicit else _walk_implicit
    head = _IMPLICIT_HEAD.unpack_from
    items: Items = []
    while end is None or pos < end:
        if pos + 8 > size:
            raise NeedMore
        group, element, length = head(buf, pos)
        tag = (group << 16) | element
        pos += 8
        if tag == _SEQUENCE_END and end is None:
            return items, pos
        if tag != _ITEM:
            raise FastReadError(f"{Tag(tag)} where a sequence item was expected")
        first_is_element = explicit and length and pos + 6 <= size and buf[pos + 1] != 0xFF
        if first_is_element and not looks_explicit(buf, pos):  # pydicom: implicit VR item
            raise FastReadError("implicit VR item in an explicit VR file")
        index: dict[int, Entry] = {}
        seqs: dict[int, Items] = {}
        if length == _UNDEFINED:
            pos = walk(buf, pos, size, index, seqs, False, True, NO_LIMIT)[0]
        else:
            item_end = pos + length
            if item_end > size:
                raise NeedMore
            pos = walk(buf, pos, item_end, index, seqs, False, False, NO_LIMIT)[0]
            if pos > item_end:
                raise FastReadError("element runs past the end of its item")
        items.append((index, seqs))
    if end is not None and pos != end:
        raise FastReadError("sequence items do not fill the sequence length")
    return items, pos


def looks_explicit(buf: bytes, pos: int) -> bool:
    """pydicom's test: the two bytes after the tag are upper-case ASCII letters."""
    return 0x40 < buf[pos + 4] < 0x5B and 0x40 < buf[pos + 5] < 0x5B
