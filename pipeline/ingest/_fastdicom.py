"""A small, fast reader of DICOM headers in little-endian transfer syntaxes.

:func:`read_fast_header` walks the element stream with :mod:`struct` and keeps an index
``tag -> (VR, offset, length)``; values are decoded only when asked for, with the same rules
as pydicom (VR lookup for implicit VR and explicit ``UN``, private dictionary through the
creator, character sets, multi-values, empty values), so that :class:`FastDataset` answers
``get`` / ``in`` as a pydicom ``Dataset`` read with ``stop_before_pixels=True`` does.
Sequences (Enhanced MR functional groups, private sequences) are read as lists of
:class:`FastDataset`. The top level is walked lazily, only as far as the tags asked for
(whole groups at a time): ingestion needs nothing after the vendor groups (2001/2005) of a
classic image, so most of a Philips header is never walked.

Anything it does not handle goes to pydicom: :func:`read_fast_header` returns ``None`` for no
``DICM`` preamble, gzip, big-endian or deflated transfer syntaxes, or a transfer syntax that
disagrees with the data; a problem met later (unknown VR, ``UN`` of undefined length, an
implicit-VR item in an explicit-VR file, an element past the end of the file, a number of
the wrong length, an ambiguous dictionary VR, an element out of ascending tag order) raises
:class:`FastReadError`, on which the caller reads the file with pydicom.

Known difference: elements out of tag order *after* the last tag asked for are not seen
(the walk stops before them); pydicom, which reads to the pixel data, would let a repeated
tag there replace the earlier one. DICOM requires ascending order (PS3.5 7.1).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from pydicom.charset import TEXT_VR_DELIMS, convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VR, keyword_dict, private_dictionary_VR
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

_LONG_VRS = ("OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV")
_SHORT_VRS = (
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT",
    "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US",
)  # fmt: skip


def _vr_code(vr: str) -> int:
    """A VR's two ASCII letters read as a little-endian 16-bit number (how the walk sees it)."""
    return int.from_bytes(vr.encode("ascii"), "little")


def _vr_text(code: int) -> str:
    return code.to_bytes(2, "little").decode("latin-1")


_LONG_VR_CODES = frozenset(_vr_code(vr) for vr in _LONG_VRS)
_SHORT_VR_CODES = frozenset(_vr_code(vr) for vr in _SHORT_VRS)
_SQ_CODE = _vr_code("SQ")
_VR_NAMES = {_vr_code(vr): vr for vr in (*_LONG_VRS, *_SHORT_VRS)}
_TEXT_VRS = frozenset({"LO", "SH", "UC"})
_SINGLE_TEXT_VRS = frozenset({"LT", "ST", "UT"})
_UNDEFINED = 0xFFFFFFFF
_NO_LIMIT = 1 << 32  # above every tag
_tag_for_keyword = keyword_dict.get  # pydicom's tag_for_keyword without the extra call
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQUENCE_END = 0xFFFEE0DD
_TAG = struct.Struct("<HH")
_EXPLICIT_HEAD = struct.Struct("<HHHH")  # group, element, VR (2 ASCII letters as a number), length
_IMPLICIT_HEAD = struct.Struct("<HHL")
_U32 = struct.Struct("<L")

#: ``(VR as written (see :func:`_vr_code`) or None for implicit VR, value offset, value
#: length)``; length -1: an undefined-length sequence, already walked.
Entry = tuple[int | None, int, int]
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

    The top level of a file is indexed lazily: a question about tag ``t`` walks on until the
    next element's tag is above ``t``'s group (elements are stored in ascending order; one
    found out of order raises :class:`FastReadError`).
    """

    __slots__ = (
        "_buf",
        "_charset",
        "_explicit",
        "_index",
        "_lazy",
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
        lazy: _LazyWalk | None = None,
    ) -> None:
        self._buf = buf
        self._index = index
        self._seqs = seqs
        self._explicit = explicit
        self._parent_encodings = parent_encodings
        self._values: dict[int, tuple[str, Any]] = {}
        self._charset: list[str] | None = None
        self.file_meta = file_meta
        self._lazy = lazy

    # ------------------------------------------------------------------ mapping surface
    def get(self, key: Any, default: Any = None) -> Any:
        """Value for a keyword; :class:`FastElement` for a tag; ``default`` when absent."""
        by_keyword = type(key) is str
        if by_keyword:
            tag = _tag_for_keyword(key)
            if tag is None:
                return default
        else:
            tag = _tag_of(key)
        lazy = self._lazy
        if lazy is not None and tag > lazy.last:
            self._buf = lazy.reach(tag | 0xFFFF, self._index, self._seqs)  # the whole group
        if tag not in self._index:
            return default
        found = self._values.get(tag)
        if found is None:
            found = self.element(tag)
        return found[1] if by_keyword else FastElement(tag, *found)

    def __contains__(self, key: Any) -> bool:
        if type(key) is str:
            tag = _tag_for_keyword(key)
            return tag is not None and self.has(tag)
        try:
            tag = _tag_of(key)
        except (TypeError, ValueError, OverflowError):
            return False
        return self.has(tag)

    def has(self, tag: int) -> bool:
        """Whether element ``tag`` is present (walking on as far as needed)."""
        lazy = self._lazy
        if lazy is not None and tag > lazy.last:
            self._buf = lazy.reach(tag | 0xFFFF, self._index, self._seqs)  # the whole group
        return tag in self._index

    def private_creators(self, group: int) -> dict[int, str]:
        """``{slot: creator upper-cased}`` of (gggg,0010-00FF), as :class:`PrivateTags` reads them.

        Slots are read from 0x10 on; a missing one ends the search once past 0x20.
        """
        base = group << 16
        self.has(base | 0x00FF)
        index = self._index
        found: dict[int, str] = {}
        for slot in range(0x10, 0x100):
            if base | slot not in index:
                if slot > 0x20:
                    break
                continue
            found[slot] = str(self.element(base | slot)[1]).strip().upper()
        return found

    def __iter__(self) -> Iterator[int]:
        """Tags present, ascending."""
        self.has(_NO_LIMIT)
        return iter(sorted(self._index))

    def __len__(self) -> int:
        self.has(_NO_LIMIT)
        return len(self._index)

    # ------------------------------------------------------------------ values
    def element(self, tag: int) -> tuple[str, Any]:
        """``(VR, value)`` of ``tag``, which must be present (see :meth:`has`); decoded once."""
        found = self._values.get(tag)
        if found is not None:
            return found
        raw_vr, offset, length = self._index[tag]
        plain = _PLAIN_DECODERS.get(raw_vr) if raw_vr is not None and length > 0 else None
        if plain is not None:  # common explicit VRs: no lookup, no character set
            vr, decode = plain
            try:
                found = (vr, decode(self._buf[offset : offset + length]))
            except (ValueError, UnicodeError, struct.error):
                found = (vr, self._decode(tag, vr))
        else:
            vr = self.vr(tag)
            found = (vr, self._decode(tag, vr))
        self._values[tag] = found
        return found

    def value(self, tag: int) -> Any:
        """Decoded value of ``tag`` (which must be present)."""
        return self.element(tag)[1]

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
        vr = _VR_NAMES[raw_vr]
        if vr == "UN":  # pydicom's replace_un_with_known_vr
            if (tag >> 16) & 1:
                return self._private_vr(tag)
            if length < 0xFFFF:
                try:
                    return dictionary_VR(tag)
                except KeyError:
                    return vr
        return vr

    def _private_vr(self, tag: int) -> str:
        element = tag & 0xFFFF
        if 0x0010 <= element <= 0x00FF:
            return "LO"
        if element & 0xFF00:
            creator_tag = (tag & 0xFFFF0000) | (element >> 8)
            if self.has(creator_tag):
                creator = self.value(creator_tag)
                if creator:
                    try:
                        return private_dictionary_VR(tag, creator)
                    except KeyError:
                        pass
        return "UN"

    def _encodings(self) -> list[str]:
        if self._charset is None:
            charset = self.value(0x00080005) if self.has(0x00080005) else None
            if charset:
                self._charset = list(convert_encodings(charset))
            else:
                self._charset = self._parent_encodings or [DEFAULT_ENCODING]
        return self._charset

    def _decode(self, tag: int, vr: str) -> Any:
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
        plain = _PLAIN_DECODERS.get(_vr_code(vr)) if len(vr) == 2 else None
        if plain is not None:
            return plain[1](raw)
        if vr == "UN":
            return raw
        if vr in _TEXT_VRS:
            text = decode_bytes(raw, self._encodings(), TEXT_VR_DELIMS)
            items = [item.rstrip("\0 ") for item in text.split("\\")]
            return items[0] if len(items) == 1 else items
        if vr in _SINGLE_TEXT_VRS:
            return decode_bytes(raw, self._encodings(), TEXT_VR_DELIMS).rstrip("\0 ")
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
    if type(key) is tuple and len(key) == 2 and type(key[0]) is int and type(key[1]) is int:
        return (key[0] << 16) | key[1]
    return int(Tag(key))


def _multi(text: str, kind: Any) -> Any:
    """pydicom's ``multi_string``: trailing padding removed, split on backslash."""
    items = text.rstrip(" \x00").split("\\")
    if len(items) == 1:
        return kind(items[0]) if items[0] or kind is str else _empty_item(kind)
    return [kind(item) if item or kind is str else _empty_item(kind) for item in items]


def _empty_item(kind: Any) -> Any:
    raise ValueError(f"empty {kind.__name__} item")  # pydicom keeps '' here; let it decide


def _decode_ds(raw: bytes) -> Any:
    return _multi(raw.decode("latin-1").strip(), float)


def _decode_is(raw: bytes) -> Any:
    return _multi(raw.decode("latin-1"), int)


def _decode_ui(raw: bytes) -> Any:
    return _multi(raw.decode("latin-1").rstrip("\0 "), str)


def _decode_string(raw: bytes) -> Any:
    return _multi(raw.decode("latin-1"), str)


def _decode_ae(raw: bytes) -> Any:
    items = [item.strip() for item in raw.decode("latin-1").split("\\")]
    return items[0] if len(items) == 1 else items


def _decode_bytes(raw: bytes) -> Any:
    return raw


def _number_decoder(fmt: str) -> Callable[[bytes], Any]:
    size = struct.calcsize("<" + fmt)
    one = struct.Struct("<" + fmt)

    def decode(raw: bytes) -> Any:
        if len(raw) == size:
            return one.unpack(raw)[0]
        if len(raw) % size:
            raise FastReadError(f"{len(raw)} bytes is no multiple of {size} ({fmt})")
        return list(struct.unpack(f"<{len(raw) // size}{fmt}", raw))

    return decode


#: Decoders of explicit VRs whose value needs neither a dictionary nor a character set
#: (``latin-1`` is the ``iso8859`` pydicom uses for them).
_PLAIN_DECODERS: dict[int, tuple[str, Callable[[bytes], Any]]] = {
    _vr_code(vr): (vr, decode)
    for vr, decode in {
        "DS": _decode_ds,
        "IS": _decode_is,
        "UI": _decode_ui,
        "AS": _decode_string,
        "CS": _decode_string,
        "DA": _decode_string,
        "DT": _decode_string,
        "TM": _decode_string,
        "AE": _decode_ae,
        "OB": _decode_bytes,
        "OD": _decode_bytes,
        "OF": _decode_bytes,
        "OL": _decode_bytes,
        "OV": _decode_bytes,
        "OW": _decode_bytes,
        "US": _number_decoder("H"),
        "SS": _number_decoder("h"),
        "UL": _number_decoder("L"),
        "SL": _number_decoder("l"),
        "FL": _number_decoder("f"),
        "FD": _number_decoder("d"),
    }.items()
}


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
    until: int = _NO_LIMIT,
) -> WalkEnd:
    """Index the elements from ``pos``.

    Stops at pixel data (``top``), at an item delimiter (``item``, undefined-length item), at
    ``end``, or before the first element whose tag is above ``until``. Raises
    :class:`_NeedMore` when an element runs past the end of ``buf``, :class:`FastReadError`
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
                    seqs[tag], pos = _walk_sequence(buf, pos, None, True)
                    index[tag] = (vr, pos, -1)
                    continue
            else:
                raise FastReadError(f"unknown VR {_vr_text(vr)} at {Tag(tag)}")
            index[tag] = (vr, pos, length)
            pos += length
    except struct.error as exc:  # an element header past the end of the bytes read
        raise _NeedMore from exc
    if pos > len(buf):
        raise _NeedMore
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
            raise _NeedMore
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
            seqs[tag], pos = _walk_sequence(buf, pos, None, False)
            index[tag] = (None, pos, -1)
            continue
        index[tag] = (None, pos, length)
        pos += length
        if pos > size:
            raise _NeedMore
    return pos, last, False


def _walk_meta(buf: bytes, index: dict[int, Entry]) -> int:
    """Index the file meta elements (explicit VR, group 0002) after the preamble."""
    pos = 132
    size = len(buf)
    while pos + 8 <= size and _TAG.unpack_from(buf, pos)[0] == 0x0002:
        pos = _walk_explicit(buf, pos, pos + 1, index, {}, False, False, _NO_LIMIT)[0]
    return pos


class _LazyWalk:
    """Where the top-level walk of one file stands; it goes on only as far as asked.

    ``last`` is the highest tag up to which the index is complete (:data:`_NO_LIMIT` once the
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
            except _NeedMore:
                self._read_all()
            except struct.error as exc:
                raise FastReadError(f"malformed element ({exc})") from exc
        self.pos = pos
        self.last = max(self.last, last, tag) if more else _NO_LIMIT
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


def _walk_sequence(buf: bytes, pos: int, end: int | None, explicit: bool) -> tuple[Items, int]:
    """Items of a sequence starting at ``pos`` (``end`` None: undefined length)."""
    size = len(buf)
    walk = _walk_explicit if explicit else _walk_implicit
    head = _IMPLICIT_HEAD.unpack_from
    items: Items = []
    while end is None or pos < end:
        if pos + 8 > size:
            raise _NeedMore
        group, element, length = head(buf, pos)
        tag = (group << 16) | element
        pos += 8
        if tag == _SEQUENCE_END and end is None:
            return items, pos
        if tag != _ITEM:
            raise FastReadError(f"{Tag(tag)} where a sequence item was expected")
        first_is_element = explicit and length and pos + 6 <= size and buf[pos + 1] != 0xFF
        if first_is_element and not _looks_explicit(buf, pos):  # pydicom: implicit VR item
            raise FastReadError("implicit VR item in an explicit VR file")
        index: dict[int, Entry] = {}
        seqs: dict[int, Items] = {}
        if length == _UNDEFINED:
            pos = walk(buf, pos, size, index, seqs, False, True, _NO_LIMIT)[0]
        else:
            item_end = pos + length
            if item_end > size:
                raise _NeedMore
            pos = walk(buf, pos, item_end, index, seqs, False, False, _NO_LIMIT)[0]
            if pos > item_end:
                raise FastReadError("element runs past the end of its item")
        items.append((index, seqs))
    if end is not None and pos != end:
        raise FastReadError("sequence items do not fill the sequence length")
    return items, pos


def _looks_explicit(buf: bytes, pos: int) -> bool:
    """pydicom's test: the two bytes after the tag are upper-case ASCII letters."""
    return 0x40 < buf[pos + 4] < 0x5B and 0x40 < buf[pos + 5] < 0x5B


# ---------------------------------------------------------------------- file level
def parse_header(buf: bytes, path: Path | None = None) -> FastDataset:
    """The header of a DICOM file whose first bytes are ``buf``; indexed lazily.

    ``path``, when given, is read whole if the header runs past ``buf`` (and ``buf`` holds
    :data:`HEAD_BYTES`); without it ``buf`` must be the whole file.

    Raises
    ------
    FastReadError
        When pydicom must read the file (see the module docstring); also later, from the
        returned dataset, when a problem lies further in the file.
    """
    if len(buf) < 144 or buf[128:132] != b"DICM":
        raise FastReadError("no DICM preamble")
    meta_index: dict[int, Entry] = {}
    try:
        pos = _walk_meta(buf, meta_index)
    except _NeedMore as exc:
        raise FastReadError("the file meta information runs past the bytes read") from exc
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
    if pos + 6 <= len(buf) and _looks_explicit(buf, pos) != explicit:
        raise FastReadError("the data disagree with the transfer syntax's VR encoding")
    lazy = _LazyWalk(buf, pos, explicit, path)
    return FastDataset(buf, {}, {}, explicit=explicit, file_meta=meta, lazy=lazy)


def read_fast_header(path: Path) -> FastDataset | None:
    """The header of ``path`` for the fast reader, or ``None`` when pydicom must read it.

    Only the first :data:`HEAD_BYTES` are read until a question needs more. Problems further
    in the file raise :class:`FastReadError` from the dataset's methods.
    """
    try:
        with open(path, "rb", buffering=0) as handle:  # one read; a short one only costs speed
            buf = handle.read(HEAD_BYTES)
    except OSError:
        return None
    if len(buf) < 144 or buf[128:132] != b"DICM":
        return None
    try:
        return parse_header(buf, path)
    except (FastReadError, struct.error):
        return None
