"""How the studio tells the user things: errors as messages without a traceback, and a paired test's verdict
in the colour of its outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from xcross_core.data.report import DataError
from xcross_core.store import RunStateError

#: Errors whose message is meant for the user; anything else is a bug and may show a traceback.
USER_ERRORS = (DataError, ValueError, KeyError, FileNotFoundError, FileExistsError, RunStateError, OSError)


def show_error(err: BaseException, what: str = "") -> None:
    """A user-facing error: the message, no traceback."""
    message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    st.error(f"{what}{': ' if what else ''}{message}")


def guarded(action: Callable[[], Any], what: str = "") -> Any:
    """Run `action`, showing a user error instead of a traceback; None when it failed."""
    try:
        return action()
    except USER_ERRORS as err:
        show_error(err, what)
        return None


def verdict_box(model: str, test: dict[str, Any]) -> None:
    """A paired test's sentence: green when significantly better, amber when significantly worse, else blue."""
    text = test.get("verdict") or f"{model}: p = {test['p_value']:.3f}"
    if "significantly better" in text:
        st.success(text)
    elif "significantly worse" in text:
        st.warning(text)
    else:
        st.info(text)
