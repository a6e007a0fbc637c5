"""Data shown as written: text from files and records (titles, names, messages that quote a file) escaped for
the Markdown that Streamlit renders in st.markdown, st.caption, st.error, widget labels, options of radios and
sliders, tooltips, metrics and st.table cells.

Unescaped, a title such as `![x](https://host/pixel.png)` would make every browser that shows it fetch that
URL, and `$`, `*`, `:red[...]` or a leading `1.` would restyle the text. Tables (st.dataframe), st.text and
the options of select boxes show text as it is and need none of this. Pages write their own words and
formatting as a template and let `md` put the data in: `md("Using **{}**.", label)`.
"""

from __future__ import annotations

import re
import string

import pandas as pd

#: Characters that start Markdown or Streamlit syntax anywhere in a line: code, emphasis, links and images,
#: autolinks and HTML, entities, headings, tables, strikethrough, LaTeX.
_ANYWHERE = re.compile(r"([\\`*_\[\]<&#|~$])")
#: A colon before a non-space character (Streamlit's `:red[...]`, `:material/icon:` and emoji shortcodes).
_DIRECTIVE = re.compile(r":(?=\S)")
#: An invisible character that ends a bare link. GitHub-flavored Markdown finds `http://...`, `www.host` and
#: `name@host` in the text after its escapes are resolved, so no escape can keep them from becoming links.
WORD_JOINER = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?=://)|(?<=\bwww)(?=\.)|(?=@)")
#: Block syntax at the start of a line: lists, block quotes, setext underlines, ordered-list numbers.
_LINE_START = re.compile(r"^(\s*)([-+=>])", re.MULTILINE)
_ORDERED = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)


def plain(value: object) -> str:
    """`value` as text that Streamlit's Markdown shows exactly as written (no link, image or formatting), give or
    take invisible word joiners in bare links."""
    text = _AUTOLINK.sub(WORD_JOINER, str(value))
    text = _ANYWHERE.sub(r"\\\1", text)
    text = _DIRECTIVE.sub(r"\\:", text)
    text = _LINE_START.sub(r"\1\\\2", text)
    return _ORDERED.sub(r"\1\\\2", text)


class _PlainFields(string.Formatter):
    """str.format whose fields are inserted as plain text (after their format spec, e.g. `{:,}`, applies)."""

    def format_field(self, value: object, format_spec: str) -> str:
        return plain(super().format_field(value, format_spec))


_FIELDS = _PlainFields()


def md(template: str, /, *args: object, **fields: object) -> str:
    """Markdown `template` (the studio's own words and formatting) with its `{}` fields filled in as plain text:
    `md("Using **{}**.", label)` shows the label in bold, and any Markdown in it as written."""
    return _FIELDS.format(template, *args, **fields)


def plain_table(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` for st.table, which renders Markdown in every cell, header and index label: all text made plain."""
    shown = frame.map(lambda cell: plain(cell) if isinstance(cell, str) else cell)
    shown.index = shown.index.map(plain)
    shown.columns = shown.columns.map(plain)
    return shown
