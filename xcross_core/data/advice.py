"""Messages as data: what went wrong, and the settings that get round it, for each front end to word.

A message for the user often names a setting: "raise the limit with --max-rows", "map your columns with
--column theirs=ours". The library does not know whether its caller is the command line, the studio or a script,
so it never writes a setting's name into the text. It builds a `Message` of text and `Hint`s instead: a hint
holds the setting's neutral key (the library's parameter and the job spec's field, such as "columns",
"encoding" or "max_rows"), the values it concerns, and the clause around it. A front end words each hint with
`Message.worded`: the command line as its flag, the studio as its page's control; a front end without that
setting leaves the whole clause out, so a message never points at something its reader cannot set.

A `Message` is a `str` holding the library's own wording (settings named as parameters, e.g. ``max_rows``), so
that code which only prints it, or stores it, keeps working.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

#: What a hint's values are: the user's own (the setting at fault), ones to try, or an illustration.
Role = Literal["given", "suggested", "example"]


@dataclass(frozen=True)
class Hint:
    """The part of a message that names a setting.

    `option` is the setting's neutral key; `text` is the clause, with ``{}`` where the setting goes (it is
    formatted, so data that may hold braces, such as a file or column name, belongs in the message's text parts);
    `values` are the values concerned, as `role` says.
    """

    option: str
    text: str = "{}"
    values: tuple[str, ...] = ()
    role: Role = "suggested"


#: How a front end names a hint's setting with its values; None when it has no such setting.
Wording = Callable[[Hint], "str | None"]


class Message(str):
    """A message for the user: text parts and `Hint`s, with the file and the rows it is about.

    Its `str` value is the library's wording (`library_words`); `worded` gives another front end's.
    """

    parts: tuple[str | Hint, ...]
    file: str | None
    rows: tuple[int, ...]

    def __new__(cls, *parts: str | Hint, file: str | None = None, rows: Sequence[int] = ()) -> Message:
        self = super().__new__(cls, _join(parts, library_words))
        self.parts, self.file, self.rows = parts, file, tuple(int(r) for r in rows)
        return self

    def __reduce__(self) -> tuple:
        # str's own pickling would call __new__ with the text as a single part and lose the hints.
        return (_rebuild, (self.parts, self.file, self.rows))

    @property
    def options(self) -> tuple[str, ...]:
        """The keys of the settings the message names, in order."""
        return tuple(part.option for part in self.parts if isinstance(part, Hint))

    @property
    def reason(self) -> str:
        """The message without the clauses that name a setting."""
        return _join(self.parts, lambda hint: None)

    def worded(self, words: Wording) -> str:
        """The message with each hint's setting named by `words`; a hint it has no name for is left out."""
        return _join(self.parts, words)

    def to_dict(self) -> dict[str, Any]:
        """The message as JSON-ready data (a hint as its fields), for a front end in another process to word."""
        parts = [p if isinstance(p, str) else {**asdict(p), "values": list(p.values)} for p in self.parts]
        return {"parts": parts, "file": self.file, "rows": list(self.rows)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """The message `to_dict` wrote."""
        parts = [p if isinstance(p, str) else Hint(**{**p, "values": tuple(p["values"])}) for p in data["parts"]]
        return cls(*parts, file=data.get("file"), rows=data.get("rows", ()))


def _rebuild(parts: tuple[str | Hint, ...], file: str | None, rows: tuple[int, ...]) -> Message:
    return Message(*parts, file=file, rows=rows)


def _join(parts: Sequence[str | Hint], words: Wording) -> str:
    text = []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
        elif (setting := words(part)) is not None:
            text.append(part.text.format(setting))
    return "".join(text)


def library_words(hint: Hint) -> str:
    """A setting as the library's parameter, for a script that calls the library: ``max_rows``,
    ``encoding=latin-1 (or cp1252)``, ``columns (perhaps sku=item_id, name=title)``."""
    if not hint.values:
        return hint.option
    if hint.role == "given":
        return f"{hint.option} {' '.join(hint.values)}"
    if hint.option == "columns":  # pairs their=ours, which hold together
        return f"columns ({'e.g.' if hint.role == 'example' else 'perhaps'} {', '.join(hint.values)})"
    return f"{hint.option}={hint.values[0]}" + "".join(f" (or {value})" for value in hint.values[1:])


def message_of(err: BaseException) -> Message | None:
    """The `Message` an error carries (a DataError's message, a SpecError's problem); None for plain text."""
    for candidate in (*err.args[:1], getattr(err, "problem", None)):
        if isinstance(candidate, Message):
            return candidate
    return None
