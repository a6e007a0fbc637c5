"""Data shown as written: text from files and records (titles, names, messages that quote a file) escaped for
the Markdown that Streamlit renders in st.markdown, st.caption, st.error and the like.

Unescaped, a title such as `![x](https://host/pixel.png)` would make every browser that shows it fetch that
URL, and `$`, `*`, `:red[...]` or a leading `1.` would restyle the text. Tables (st.dataframe) and st.text
show text as it is and need none of this.
"""

from __future__ import annotations

import re

#: Characters that start Markdown or Streamlit syntax anywhere in a line: code, emphasis, links and images,
#: autolinks and HTML, headings, tables, strikethrough, LaTeX.
_ANYWHERE = re.compile(r"([\\`*_\[\]<#|~$])")
#: A colon before a non-space character (Streamlit's `:red[...]`, `:material/icon:` and emoji shortcodes).
_DIRECTIVE = re.compile(r":(?=\S)")
#: Block syntax at the start of a line: lists, block quotes, setext underlines, ordered-list numbers.
_LINE_START = re.compile(r"^(\s*)([-+=>])", re.MULTILINE)
_ORDERED = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)


def plain(value: object) -> str:
    """`value` as text that Streamlit's Markdown shows exactly as written (no link, image or formatting)."""
    text = _ANYWHERE.sub(r"\\\1", str(value))
    text = _DIRECTIVE.sub(r"\\:", text)
    text = _LINE_START.sub(r"\1\\\2", text)
    return _ORDERED.sub(r"\1\\\2", text)
