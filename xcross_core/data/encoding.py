"""A text file's bytes: recognising files that are not text at all, and decoding, with the line of a bad byte.

A NUL or another control byte in one value does not make a file binary (the row that holds it is reported,
see `clean.py`); a file whose first 4 KiB are more than a tenth control bytes does, and so do the signatures
of Parquet, gzip, ZIP and UTF-16 text.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from xcross_core.data.advice import Hint
from xcross_core.data.report import DataError

_HEAD = 4096  # bytes looked at to tell a text file from another kind
_CHUNK = 1 << 20  # bytes per read when streaming
_CONTROL_BYTES = (*range(0, 9), 11, 12, *range(14, 32))  # all but tab, line feed and carriage return


def file_head(path: Path) -> bytes:
    """The first bytes of `path`, enough to recognise its kind."""
    with path.open("rb") as f:
        return f.read(_HEAD)


def refuse_binary(head: bytes, name: str) -> None:
    """Recognise files that are not text at all from their first bytes (`file_head`), and say what they are."""
    if head.startswith(b"PAR1"):
        raise DataError(f"{name} is a Parquet file; give it the .parquet extension", file=name)
    if head.startswith(b"\x1f\x8b"):
        raise DataError(f"{name} is gzip-compressed; decompress it first", file=name)
    if head.startswith(b"PK\x03\x04"):
        raise DataError(f"{name} is a ZIP archive (an Excel workbook?); export or save it as CSV", file=name)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{name} is UTF-16 text; re-save it as UTF-8", _read_as("utf-16"), file=name)
    # UTF-16 without a byte-order mark: Latin text has a NUL in every other byte, and almost none in the rest.
    even, odd = head[0::2], head[1::2]
    for zeros, other, codec in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if zeros.count(0) > len(zeros) // 2 and other.count(0) <= len(other) // 10:
            raise DataError(
                f"{name} looks like UTF-16 text without a byte-order mark; re-save it as UTF-8",
                _read_as(codec),
                file=name,
            )
    if sum(head.count(b) for b in _CONTROL_BYTES) > len(head) // 10:
        raise DataError(f"{name} does not look like a text file (it holds binary data)", file=name)


def codec_of(encoding: str | None) -> str:
    """The codec that reads a file said to be in `encoding` (None: UTF-8, a byte-order mark skipped)."""
    codec = encoding or "utf-8-sig"
    try:
        codecs.lookup(codec)
    except LookupError:
        raise DataError(f"unknown encoding {encoding!r} (try utf-8, latin-1 or cp1252)") from None
    return codec


def decode(data: bytes, name: str, encoding: str | None) -> str:
    """Bytes to text; a decoding error names the line of the first bad byte."""
    try:
        text = data.decode(codec_of(encoding))
    except UnicodeDecodeError as exc:
        raise _undecodable(name, encoding, exc, data.count(b"\n", 0, exc.start) + 1) from None
    return text.removeprefix("\ufeff")


def decoding_error(path: Path, encoding: str | None) -> DataError:
    """The error for a file that cannot be decoded, found by decoding it 1 MiB at a time (it is not held whole)."""
    decoder = codecs.getincrementaldecoder(codec_of(encoding))()
    lines = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:  # exc.object: the chunk after the few bytes held back from the last
                return _undecodable(path.name, encoding, exc, lines + exc.object.count(b"\n", 0, exc.start) + 1)
            lines += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return _undecodable(path.name, encoding, exc, lines + 1)
    raise AssertionError(f"{path.name} decodes as {encoding or 'UTF-8'} when read in chunks")


def _undecodable(name: str, encoding: str | None, exc: UnicodeDecodeError, line: int) -> DataError:
    """The user's words for `exc`, raised at `line`: the bad byte, the text before it, and what to do."""
    data = exc.object
    start = data.rfind(b"\n", 0, exc.start) + 1
    near = data[start : exc.start + 20].decode(codec_of(encoding), errors="replace").splitlines()[0][:60]
    where = f"line {line} has byte 0x{data[exc.start]:02X} (near {near!r})"
    if encoding is None:
        guess = _read_as("latin-1", "cp1252", text=", or pass {} if that is its encoding")
        return DataError(
            f"{name} is not valid UTF-8: {where}. Re-save the file as UTF-8", guess, ".", file=name, rows=[line]
        )
    return DataError(f"{name} cannot be read as {encoding}: {where}", file=name, rows=[line])


def _read_as(*codecs: str, text: str = ", or pass {}") -> Hint:
    """The advice to read a file with another encoding (the first of `codecs`, or one of the others)."""
    return Hint("encoding", text, codecs)
