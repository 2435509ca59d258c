"""BER-TLV as ISO/IEC 7816-4 and ICAO 9303-10 use it: tags of one to three bytes, lengths in
short form (< 128) or long form ``81 xx``, ``82 xxxx``, ``83 xxxxxx``.

Tags are handled as integers holding their encoded bytes (``0x5F1F``, ``0x7F61``), which is
how ICAO writes them. Decoding is strict: no indefinite lengths, no lengths of more than three
bytes, no padding bytes (``00``/``FF``) between objects, nothing truncated, nothing left over.
Long-form lengths that would fit a shorter form are accepted, as BER allows; the encoder
always writes the shortest form. Error messages name offsets and tags, never values (values are
personal data).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from printers.errors import PrintersError

MAX_LENGTH = 0xFFFFFF
"""The largest value length three length bytes (``83 xxxxxx``) can express."""


class TlvError(PrintersError):
    """Bytes that are not well-formed BER-TLV. ``reason_code`` is ``tlv.<what>``; ``offset`` is
    where in the decoded buffer the culprit starts."""

    def __init__(self, message: str, *, reason_code: str, offset: int | None = None) -> None:
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"{message}{where}", reason_code=reason_code, offset=offset)
        self.reason_code = reason_code
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Tlv:
    """One data object: its tag (encoded bytes as an integer) and its value bytes."""

    tag: int
    value: bytes

    @property
    def constructed(self) -> bool:
        """Whether the value is itself a series of data objects (b6 of the first tag byte)."""
        return is_constructed(self.tag)

    def encode(self) -> bytes:
        return encode(self.tag, self.value)

    def __repr__(self) -> str:  # values may be personal data
        return f"Tlv(tag={self.tag:#x}, length={len(self.value)})"


def is_constructed(tag: int) -> bool:
    """Whether ``tag`` marks a constructed data object."""
    first = tag.to_bytes(_tag_size(tag), "big")[0]
    return bool(first & 0x20)


def _tag_size(tag: int) -> int:
    return max(1, (tag.bit_length() + 7) // 8)


def encode_tag(tag: int) -> bytes:
    """The bytes of ``tag``; raises ``TlvError`` if they are not a valid BER tag."""
    if tag < 0:
        raise TlvError("negative tag", reason_code="tlv.tag")
    raw = tag.to_bytes(_tag_size(tag), "big")
    try:
        parsed, end = _read_tag(raw, 0)
    except TlvError:
        end, parsed = -1, -1
    if end != len(raw) or parsed != tag:
        raise TlvError(f"{tag:#x} is not a valid BER tag", reason_code="tlv.tag")
    return raw


def encode_length(length: int) -> bytes:
    """The shortest BER length field for ``length`` (up to ``MAX_LENGTH``)."""
    if length < 0 or length > MAX_LENGTH:
        raise TlvError(f"length {length} cannot be encoded", reason_code="tlv.length")
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def encode(tag: int, value: bytes) -> bytes:
    """One data object."""
    return encode_tag(tag) + encode_length(len(value)) + bytes(value)


def encode_all(objects: Iterable[tuple[int, bytes]]) -> bytes:
    """Data objects one after the other (the value of a constructed object)."""
    return b"".join(encode(tag, value) for tag, value in objects)


def _read_tag(data: bytes, offset: int) -> tuple[int, int]:
    if offset >= len(data):
        raise TlvError("truncated tag", reason_code="tlv.truncated", offset=offset)
    first = data[offset]
    if first in (0x00, 0xFF):
        raise TlvError(f"invalid tag byte {first:#04x}", reason_code="tlv.tag", offset=offset)
    tag = first
    position = offset + 1
    if first & 0x1F != 0x1F:
        return tag, position
    for index in range(2):  # at most two subsequent bytes: tags of up to three bytes
        if position >= len(data):
            raise TlvError("truncated tag", reason_code="tlv.truncated", offset=offset)
        byte = data[position]
        if index == 0 and byte == 0x80:
            raise TlvError("tag number with a leading zero", reason_code="tlv.tag", offset=offset)
        tag = (tag << 8) | byte
        position += 1
        if not byte & 0x80:
            return tag, position
    raise TlvError("tag longer than three bytes", reason_code="tlv.tag", offset=offset)


def _read_length(data: bytes, offset: int) -> tuple[int, int]:
    if offset >= len(data):
        raise TlvError("truncated length", reason_code="tlv.truncated", offset=offset)
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    if first == 0x80:
        raise TlvError("indefinite length", reason_code="tlv.length", offset=offset)
    size = first & 0x7F
    if size > 3:
        raise TlvError(f"{size}-byte length field", reason_code="tlv.length", offset=offset)
    end = offset + 1 + size
    if end > len(data):
        raise TlvError("truncated length", reason_code="tlv.truncated", offset=offset)
    return int.from_bytes(data[offset + 1 : end], "big"), end


def decode_one(data: bytes, offset: int = 0) -> tuple[Tlv, int]:
    """The data object starting at ``offset`` and the offset just after it."""
    tag, position = _read_tag(data, offset)
    length, position = _read_length(data, position)
    end = position + length
    if end > len(data):
        raise TlvError(
            f"value of tag {tag:#x} runs past the end", reason_code="tlv.truncated", offset=offset
        )
    return Tlv(tag, bytes(data[position:end])), end


def decode(data: bytes) -> list[Tlv]:
    """Every data object of ``data``, which must hold whole objects and nothing else."""
    objects = []
    offset = 0
    while offset < len(data):
        item, offset = decode_one(data, offset)
        objects.append(item)
    return objects


def decode_single(data: bytes, tag: int) -> bytes:
    """The value of the one data object that ``data`` is; it must carry ``tag``."""
    item, end = decode_one(data, 0)
    if item.tag != tag:
        raise TlvError(
            f"expected tag {tag:#x}, found {item.tag:#x}",
            reason_code="tlv.unexpected_tag",
            offset=0,
        )
    if end != len(data):
        raise TlvError(
            f"{len(data) - end} bytes after tag {tag:#x}", reason_code="tlv.trailing", offset=end
        )
    return item.value


def decode_children(value: bytes, expected: Iterable[int]) -> list[bytes]:
    """The values of the data objects in ``value``, which must carry exactly the tags
    ``expected``, in that order."""
    objects = decode(value)
    tags = tuple(expected)
    found = tuple(item.tag for item in objects)
    if found != tags:
        raise TlvError(
            f"expected tags {_tag_list(tags)}, found {_tag_list(found) or 'nothing'}",
            reason_code="tlv.unexpected_tag",
        )
    return [item.value for item in objects]


def _tag_list(tags: Iterable[int]) -> str:
    return " ".join(f"{tag:X}" for tag in tags)
