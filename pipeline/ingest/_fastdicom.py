"""A small, fast reader of DICOM headers in little-endian transfer syntaxes.

:func:`read_fast_header` walks the element stream with :mod:`struct` and keeps an index
``tag -> (VR, offset, length)``; values are decoded only when asked for, with the same rules
as pydicom (VR lookup for implicit VR and explicit ``UN``, character sets, multi-values,
empty values), so that :class:`FastDataset` answers ``get``/``in`` exactly as a pydicom
``Dataset`` read with ``stop_before_pixels=True`` would. Sequences (Enhanced MR functional
groups, private sequences) are walked as well and read as lists of :class:`FastDataset`.

It returns ``None`` (the caller then reads the file with pydicom) for anything it does not
handle: no ``DICM`` preamble, gzip, big-endian or deflated transfer syntaxes, a transfer syntax
that disagrees with the data, unknown VRs, ``UN`` of undefined length, elements running past
the end of the file (truncated files). A problem found only while decoding a value raises
:class:`FastReadError`, on which the caller also falls back to pydicom.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from pydicom.charset import TEXT_VR_DELIMS, convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VR, private_dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement, empty_value_for_VR
from pydicom.multival import MultiValue
from pydicom.tag import Tag
from pydicom.values import convert_PN, convert_value

#: Bytes read first; files whose header runs past them are read whole.
HEAD_BYTES = 1 << 16
#: Pixel data elements: the top-level walk stops there, as pydicom's ``stop_before_pixels``.
PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00009, 0x7FE00008})
IMPLICIT_LITTLE = "1.2.840.10008.1.2"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
#: Transfer syntaxes whose dataset is not explicit VR little endian although their UID
#: starts like one (big endian, deflated): read by pydicom.
NOT_EXPLICIT_LITTLE = frozenset({"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"})
DEFAULT_ENCODING = "iso8859"

_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_SHORT_VRS = frozenset(
    {
        b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT",
        b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
    }
)  # fmt: skip
_NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d"}
_BYTES_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_PLAIN_STRING_VRS = frozenset({"AS", "CS", "DA", "DT", "TM"})
_TEXT_VRS = frozenset({"LO", "SH", "UC"})
_SINGLE_TEXT_VRS = frozenset({"LT", "ST", "UT"})
_UNDEFINED = 0xFFFFFFFF
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_TAG = struct.Struct("<HH")
_EXPLICIT_HEAD = struct.Struct("<HH2sH")
_IMPLICIT_HEAD = struct.Struct("<HHL")
_U32 = struct.Struct("<L")

#: ``(VR as written or None for implicit VR, value offset, value length)``; length -1: an
#: undefined-length sequence, already walked.
Entry = tuple[bytes | None, int, int]
#: Items of a walked sequence: per item its element index and its walked sequences.
Items = list[tuple[dict[int, Entry], dict[int, "Items"]]]


class FastReadError(Exception):
    """The fast reader cannot give pydicom's answer for this file; read it with pydicom."""


class _NeedMore(Exception):
    """The header runs past the bytes read so far."""


class FastElement(NamedTuple):
    """What ``FastDataset.get((group, element))`` returns (like pydicom's ``DataElement``)."""

    tag: int
    VR: str
    value: Any


class FastDataset:
    """A read-only, pydicom-compatible view of one dataset (or sequence item) of a file.

    Supports what ingestion asks of a header: ``get(keyword)`` -> value, ``get((g, e))`` /
    ``get(int)`` -> :class:`FastElement`, ``key in ds`` and ``file_meta``. Values equal
    pydicom's (``DSfloat`` / ``IS`` / ``UID`` come back as ``float`` / ``int`` / ``str``).
    """

    __slots__ = (
        "_buf",
        "_explicit",
        "_index",
        "_parent_encodings",
        "_seqs",
        "_values",
        "file_meta",
    )

    def __init__(
        self,
        buf: bytes,
        index: dict[int, Entry],
        seqs: dict[int, Items],
        *,
        explicit: bool,
        parent_encodings: list[str] | None = None,
        file_meta: FastDataset | None = None,
    ) -> None:
        self._buf = buf
        self._index = index
        self._seqs = seqs
        self._explicit = explicit
        self._parent_encodings = parent_encodings
        self._values: dict[int, Any] = {}
        self.file_meta = file_meta

    # ------------------------------------------------------------------ mapping surface
    def get(self, key: Any, default: Any = None) -> Any:
        """Value for a keyword; :class:`FastElement` for a tag; ``default`` when absent."""
        if isinstance(key, str):
            tag = tag_for_keyword(key)
            if tag is None or tag not in self._index:
                return default
            return self.value(tag)
        tag = _tag_of(key)
        if tag not in self._index:
            return default
        return FastElement(tag, self.vr(tag), self.value(tag))

    def __contains__(self, key: Any) -> bool:
        if isinstance(key, str):
            tag = tag_for_keyword(key)
            return tag is not None and tag in self._index
        try:
            return _tag_of(key) in self._index
        except (TypeError, ValueError, OverflowError):
            return False

    def __iter__(self) -> Iterator[int]:
        """Tags present, ascending."""
        return iter(sorted(self._index))

    def __len__(self) -> int:
        return len(self._index)

    # ------------------------------------------------------------------ values
    def vr(self, tag: int) -> str:
        """The VR pydicom would give ``tag`` (explicit VR as written; else dictionary VR)."""
        raw_vr, _, length = self._index[tag]
        if raw_vr is None:  # implicit VR
            try:
                return dictionary_VR(tag)
            except KeyError:
                if (tag >> 16) & 1:
                    return self._private_vr(tag)
                return "UL" if tag & 0xFFFF == 0 else "UN"
        vr = raw_vr.decode("ascii")
        if vr == "UN":  # pydicom's replace_un_with_known_vr
            if (tag >> 16) & 1:
                return self._private_vr(tag)
            if length < 0xFFFF:
                try:
                    return dictionary_VR(tag)
                except KeyError:
                    return vr
        return vr

    def value(self, tag: int) -> Any:
        """Decoded value of ``tag`` (which must be present)."""
        if tag in self._values:
            return self._values[tag]
        value = self._decode(tag)
        self._values[tag] = value
        return value

    def _private_vr(self, tag: int) -> str:
        element = tag & 0xFFFF
        if 0x0010 <= element <= 0x00FF:
            return "LO"
        if element & 0xFF00:
            creator_tag = (tag & 0xFFFF0000) | (element >> 8)
            if creator_tag in self._index:
                creator = self.value(creator_tag)
                if creator:
                    try:
                        return private_dictionary_VR(tag, creator)
                    except KeyError:
                        pass
        return "UN"

    def _encodings(self) -> list[str]:
        if 0x00080005 in self._index:
            charset = self.value(0x00080005)
            if charset:
                return list(convert_encodings(charset))
        return self._parent_encodings or [DEFAULT_ENCODING]

    def _decode(self, tag: int) -> Any:
        vr = self.vr(tag)
        if " or " in vr:  # ambiguous dictionary VR (US or SS, OB or OW): pydicom's business
            raise FastReadError(f"ambiguous VR {vr} of {Tag(tag)}")
        _, offset, length = self._index[tag]
        if vr == "SQ":
            return self._sequence(tag, offset, length)
        if length == 0:
            return empty_value_for_VR(vr)
        raw = self._buf[offset : offset + length]
        try:
            return self._decode_raw(vr, raw, tag)
        except (ValueError, UnicodeError, struct.error):  # odd value: pydicom's conversion
            value = convert_value(vr, self._raw_element(tag, vr, raw, offset), self._encodings())
            return list(value) if isinstance(value, MultiValue) else value

    def _decode_raw(self, vr: str, raw: bytes, tag: int) -> Any:
        if vr in _BYTES_VRS:
            return raw
        if vr == "DS":
            return _multi(raw.decode(DEFAULT_ENCODING).strip(), float)
        if vr == "IS":
            return _multi(raw.decode(DEFAULT_ENCODING), _integer)
        if vr == "UI":
            return _multi(raw.decode(DEFAULT_ENCODING).rstrip("\0 "), str)
        if vr in _PLAIN_STRING_VRS:
            return _multi(raw.decode(DEFAULT_ENCODING), str)
        if vr in _TEXT_VRS:
            text = decode_bytes(raw, self._encodings(), TEXT_VR_DELIMS)
            items = [item.rstrip("\0 ") for item in text.split("\\")]
            return items[0] if len(items) == 1 else items
        if vr in _SINGLE_TEXT_VRS:
            return decode_bytes(raw, self._encodings(), TEXT_VR_DELIMS).rstrip("\0 ")
        if vr in _NUMBER_FORMATS:
            fmt = _NUMBER_FORMATS[vr]
            size = struct.calcsize("=" + fmt)
            if len(raw) % size:
                raise FastReadError(f"{Tag(tag)}: {len(raw)} bytes is no multiple of {size}")
            numbers = struct.unpack(f"<{len(raw) // size}{fmt}", raw)
            return numbers[0] if len(numbers) == 1 else list(numbers)
        if vr == "AE":
            items = [item.strip() for item in raw.decode(DEFAULT_ENCODING).split("\\")]
            return items[0] if len(items) == 1 else items
        if vr == "PN":
            return convert_PN(raw, self._encodings())
        value = convert_value(vr, self._raw_element(tag, vr, raw, 0), self._encodings())
        return list(value) if isinstance(value, MultiValue) else value

    def _raw_element(self, tag: int, vr: str, raw: bytes, offset: int) -> RawDataElement:
        return RawDataElement(Tag(tag), vr, len(raw), raw, offset, not self._explicit, True)

    def _sequence(self, tag: int, offset: int, length: int) -> list[FastDataset]:
        if tag in self._seqs:
            items = self._seqs[tag]
        elif length == 0:
            items = []
        else:
            try:
                items, _ = _walk_sequence(self._buf, offset, offset + length, self._explicit)
            except _NeedMore as exc:  # a defined length past the end: pydicom decides
                raise FastReadError(f"sequence {Tag(tag)} runs past the end of the file") from exc
        encodings = self._encodings()
        out = []
        for item_index, item_seqs in items:
            out.append(
                FastDataset(
                    self._buf,
                    item_index,
                    item_seqs,
                    explicit=self._explicit,
                    parent_encodings=encodings,
                )
            )
        return out


# ---------------------------------------------------------------------- value helpers
def _tag_of(key: Any) -> int:
    if isinstance(key, tuple):
        return (int(key[0]) << 16) | int(key[1])
    return int(Tag(key))


def _integer(text: str) -> int:
    return int(text)


def _multi(text: str, kind: Any) -> Any:
    """pydicom's ``multi_string``: trailing padding removed, split on backslash."""
    items = text.rstrip(" \x00").split("\\")
    if len(items) == 1:
        return kind(items[0]) if items[0] or kind is str else _empty_item(kind)
    return [kind(item) if item or kind is str else _empty_item(kind) for item in items]


def _empty_item(kind: Any) -> Any:
    raise ValueError(f"empty {kind.__name__} item")  # pydicom keeps '' here; let it decide


# ---------------------------------------------------------------------- element walk
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
) -> int:
    """Index the elements from ``pos``; returns the position after the last one read.

    Stops at pixel data (``top``), at an item delimiter (``item``, undefined-length item) or
    at ``end``. Raises :class:`_NeedMore` when an element runs past the end of ``buf``.
    """
    walk = _walk_explicit if explicit else _walk_implicit
    pos = walk(buf, pos, end, index, seqs, top, item)
    if pos > end:
        raise FastReadError("element runs past the end of its item")
    return pos


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
) -> int:
    size = len(buf)
    head = _EXPLICIT_HEAD.unpack_from
    while pos < end:
        if pos + 8 > size:
            raise _NeedMore
        group, element, vr, length = head(buf, pos)
        tag = (group << 16) | element
        if group >= 0x7FE0:
            stop = _special(tag, pos, top, item)
            if stop is not None:
                return stop
        if vr in _LONG_VRS:
            if pos + 12 > size:
                raise _NeedMore
            length = _U32.unpack_from(buf, pos + 8)[0]
            pos += 12
            if length == _UNDEFINED:
                if vr != b"SQ":
                    raise FastReadError(f"{vr!r} of undefined length at {Tag(tag)}")
                seqs[tag], pos = _walk_sequence(buf, pos, None, True)
                index[tag] = (vr, pos, -1)
                continue
        elif vr in _SHORT_VRS:
            pos += 8
        else:
            raise FastReadError(f"unknown VR {vr!r} at {Tag(tag)}")
        index[tag] = (vr, pos, length)
        pos += length
        if pos > size:
            raise _NeedMore
    return pos


def _walk_implicit(
    buf: bytes,
    pos: int,
    end: int,
    index: dict[int, Entry],
    seqs: dict[int, Items],
    top: bool,
    item: bool,
) -> int:
    size = len(buf)
    head = _IMPLICIT_HEAD.unpack_from
    while pos < end:
        if pos + 8 > size:
            raise _NeedMore
        group, element, length = head(buf, pos)
        tag = (group << 16) | element
        if group >= 0x7FE0:
            stop = _special(tag, pos, top, item)
            if stop is not None:
                return stop
        pos += 8
        if length == _UNDEFINED:  # a sequence (pydicom reads it as one, whatever the tag)
            seqs[tag], pos = _walk_sequence(buf, pos, None, False)
            index[tag] = (None, pos, -1)
            continue
        index[tag] = (None, pos, length)
        pos += length
        if pos > size:
            raise _NeedMore
    return pos


def _walk_meta(buf: bytes, index: dict[int, Entry]) -> int:
    """Index the file meta elements (explicit VR, group 0002) after the preamble."""
    pos = 132
    size = len(buf)
    while pos + 8 <= size and _TAG.unpack_from(buf, pos)[0] == 0x0002:
        pos = _walk_explicit(buf, pos, pos + 1, index, {}, False, False)
    return pos


def _walk_sequence(buf: bytes, pos: int, end: int | None, explicit: bool) -> tuple[Items, int]:
    """Items of a sequence starting at ``pos`` (``end`` None: undefined length)."""
    size = len(buf)
    items: Items = []
    while end is None or pos < end:
        if pos + 8 > size:
            raise _NeedMore
        group, element, length = _IMPLICIT_HEAD.unpack_from(buf, pos)
        tag = (group << 16) | element
        pos += 8
        if tag == _SEQUENCE_END and end is None:
            return items, pos
        if tag != _ITEM:
            raise FastReadError(f"{Tag(tag)} where a sequence item was expected")
        index: dict[int, Entry] = {}
        seqs: dict[int, Items] = {}
        if length:
            _check_item_vr(buf, pos, explicit)
        if length == _UNDEFINED:
            pos = _walk(buf, pos, size, explicit, index, seqs, top=False, item=True)
        else:
            if pos + length > size:
                raise _NeedMore
            pos = _walk(buf, pos, pos + length, explicit, index, seqs, top=False, item=False)
        items.append((index, seqs))
    if end is not None and pos != end:
        raise FastReadError("sequence items do not fill the sequence length")
    return items, pos


def _check_item_vr(buf: bytes, pos: int, explicit: bool) -> None:
    """An explicit-VR file may hold implicit-VR items (pydicom switches): not handled here."""
    if explicit and pos + 6 <= len(buf):
        group = _TAG.unpack_from(buf, pos)[0]
        if group != 0xFFFE and not _looks_explicit(buf, pos):
            raise FastReadError("implicit VR item in an explicit VR file")


def _looks_explicit(buf: bytes, pos: int) -> bool:
    """pydicom's test: the two bytes after the tag are upper-case ASCII letters."""
    return 0x40 < buf[pos + 4] < 0x5B and 0x40 < buf[pos + 5] < 0x5B


# ---------------------------------------------------------------------- file level
def parse_header(buf: bytes) -> FastDataset:
    """Index the header of a DICOM file held in ``buf`` (preamble, meta, dataset).

    Raises
    ------
    FastReadError
        When pydicom must read the file (see the module docstring).
    _NeedMore
        When ``buf`` ends inside the header.
    """
    if len(buf) < 144 or buf[128:132] != b"DICM":
        raise FastReadError("no DICM preamble")
    size = len(buf)
    meta_index: dict[int, Entry] = {}
    pos = _walk_meta(buf, meta_index)
    meta = FastDataset(buf, meta_index, {}, explicit=True)
    syntax = meta.get("TransferSyntaxUID")
    if not isinstance(syntax, str) or not syntax:
        raise FastReadError("no TransferSyntaxUID (0002,0010)")
    if syntax == IMPLICIT_LITTLE:
        explicit = False
    elif syntax.startswith(EXPLICIT_LITTLE[:-1]) and syntax not in NOT_EXPLICIT_LITTLE:
        explicit = True  # explicit VR little endian, also for every compressed syntax
    else:
        raise FastReadError(f"transfer syntax {syntax} is read by pydicom")
    if pos + 6 <= size and _looks_explicit(buf, pos) != explicit:
        raise FastReadError("the data disagree with the transfer syntax's VR encoding")
    index: dict[int, Entry] = {}
    seqs: dict[int, Items] = {}
    _walk(buf, pos, size, explicit, index, seqs, top=True, item=False)
    return FastDataset(buf, index, seqs, explicit=explicit, file_meta=meta)


def read_fast_header(path: Path) -> FastDataset | None:
    """The header of ``path`` read by the fast reader, or ``None`` when pydicom must read it.

    Only the first :data:`HEAD_BYTES` are read unless the header runs past them.
    """
    try:
        with path.open("rb") as handle:
            buf = handle.read(HEAD_BYTES)
            if len(buf) < 144 or buf[128:132] != b"DICM":
                return None
            try:
                return parse_header(buf)
            except _NeedMore:
                if len(buf) < HEAD_BYTES:
                    return None  # the file ends inside its header: truncated
                buf += handle.read()
            return parse_header(buf)
    except (_NeedMore, FastReadError, OSError, struct.error):
        return None
