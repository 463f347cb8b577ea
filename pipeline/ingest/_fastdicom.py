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

from pipeline.ingest._dicomwalk import (
    HEAD_BYTES,
    NO_LIMIT,
    VR_NAMES,
    Entry,
    FastReadError,
    Items,
    LazyWalk,
    NeedMore,
    looks_explicit,
    vr_code,
    walk_meta,
    walk_sequence,
)

__all__ = [
    "HEAD_BYTES",
    "FastDataset",
    "FastElement",
    "FastReadError",
    "parse_header",
    "read_fast_header",
]

IMPLICIT_LITTLE = "1.2.840.10008.1.2"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
#: Transfer syntaxes whose dataset is not explicit VR little endian although their UID
#: starts like one (big endian, deflated): read by pydicom.
NOT_EXPLICIT_LITTLE = frozenset({"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"})
DEFAULT_ENCODING = "iso8859"
_TEXT_VRS = frozenset({"LO", "SH", "UC"})
_SINGLE_TEXT_VRS = frozenset({"LT", "ST", "UT"})
_tag_for_keyword = keyword_dict.get  # pydicom's tag_for_keyword without the extra call


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
        lazy: LazyWalk | None = None,
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
        self.has(NO_LIMIT)
        return iter(sorted(self._index))

    def __len__(self) -> int:
        self.has(NO_LIMIT)
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
        vr = VR_NAMES[raw_vr]
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
        plain = _PLAIN_DECODERS.get(vr_code(vr)) if len(vr) == 2 else None
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
                items, _ = walk_sequence(self._buf, offset, offset + length, self._explicit)
            except NeedMore as exc:  # a defined length past the end: pydicom decides
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
    vr_code(vr): (vr, decode)
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
        pos = walk_meta(buf, meta_index)
    except NeedMore as exc:
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
    if pos + 6 <= len(buf) and looks_explicit(buf, pos) != explicit:
        raise FastReadError("the data disagree with the transfer syntax's VR encoding")
    lazy = LazyWalk(buf, pos, explicit, path)
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
