"""Messages as data (`xcross_core.data.advice`): the library's words, the command line's, and any other front
end's, from the same parts; nothing is rewritten from text."""

from __future__ import annotations

import json
import pickle

from xcross_core.cli.options import cli_words, describe
from xcross_core.data.advice import Hint, Message, library_words, message_of
from xcross_core.data.report import DataError
from xcross_core.jobs.spec import SpecError
from xcross_core.jobs.validate import ValidateSpec

ENCODING = Hint("encoding", ", or pass {} if that is its encoding", ("latin-1", "cp1252"))


def test_a_message_is_its_library_wording_and_keeps_its_parts() -> None:
    message = Message("x.csv is not valid UTF-8: line 4. Re-save it as UTF-8", ENCODING, ".", file="x.csv", rows=[4])
    assert message == (
        "x.csv is not valid UTF-8: line 4. Re-save it as UTF-8, or pass encoding=latin-1 (or cp1252) if that is its "
        "encoding."
    )
    assert (message.file, message.rows, message.options) == ("x.csv", (4,), ("encoding",))
    assert message.reason == "x.csv is not valid UTF-8: line 4. Re-save it as UTF-8."
    assert pickle.loads(pickle.dumps(message)).parts == message.parts


def test_a_front_end_without_the_setting_leaves_its_clause_out() -> None:
    message = Message("big.csv is too long. Use a sample", Hint("max_rows", ", or raise the limit with {}"), ".")
    assert message.worded(lambda hint: None) == "big.csv is too long. Use a sample."
    assert (
        message.worded(lambda hint: "the row limit")
        == "big.csv is too long. Use a sample, or raise the limit with the row limit."
    )


def test_the_command_line_names_each_setting_as_its_option() -> None:
    words = cli_words(ValidateSpec)
    assert words(ENCODING) == "--encoding latin-1 (or cp1252)"
    assert words(Hint("drop_invalid", values=("True",))) == "--drop-invalid"  # a switch takes no value
    assert words(Hint("columns", values=("sku=item_id", "name=title"))) == (
        "--column theirs=ours (perhaps --column sku=item_id --column name=title)"
    )
    assert words(Hint("columns", values=("date=timestamp",), role="example")) == (
        "--column theirs=ours (e.g. --column date=timestamp)"
    )
    assert words(Hint("columns", values=("customer=user_id",), role="given")) == "--column customer=user_id"
    assert words(Hint("test_share")) is None  # validate has no split: the advice is left out
    assert library_words(Hint("columns", values=("sku=item_id",))) == "columns (perhaps sku=item_id)"


def test_errors_carry_their_message_and_the_cli_describes_both_kinds() -> None:
    data = DataError("shop.csv is too long", Hint("max_rows", "; raise the limit with {}"), file="shop.csv")
    assert message_of(data) is data.message and data.file == "shop.csv"
    assert describe(data, ValidateSpec, ("interactions",)) == "shop.csv is too long; raise the limit with --max-rows"
    spec = SpecError(None, Message("domain 'Games' is too small", Hint("min_users", " (see {})")))
    assert describe(spec, ValidateSpec, ("interactions",)) == "domain 'Games' is too small (see --min-users)"
    assert str(spec) == "domain 'Games' is too small (see min_users)"
    assert message_of(ValueError("plain")) is None


def test_a_message_goes_through_json_and_back_whole() -> None:
    message = Message(
        "rows 3, 7: ", Hint("encoding", "try {}", ("cp1252", "latin-1")), " or fix them", file="x.csv", rows=[3, 7]
    )
    back = Message.from_dict(json.loads(json.dumps(message.to_dict())))
    assert (back, back.parts, back.file, back.rows) == (message, message.parts, "x.csv", (3, 7))
