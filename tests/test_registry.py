"""The model registry: one description per model, read by the CLI's choices, the proof of concept's plan and
estimate, make_model and the studio's lists; a model registered in one call appears in all of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import make_domain, small_poc_params
from tests.studio_helpers import ROOT
from xcross_core.cli import main
from xcross_core.estimate import Speed
from xcross_core.jobs import poc
from xcross_core.jobs.poc import PocSpec, baseline_help, plan_keys, poc_estimate, poc_split, probed_baselines
from xcross_core.models.adapters import ADAPTER_LOOP
from xcross_core.models.popularity import Popularity
from xcross_core.models.registry import (
    Cost,
    ModelEntry,
    check_model_name,
    make_model,
    model_entry,
    model_names,
    register_model,
    unregister_model,
)
from xcross_core.models.xcross import XCROSS_LOOP

SPEED = Speed(train_prompt_s=0.1, xcross_prompt_s=0.25, encode_prompt_s=0.01, xcross_encode_prompt_s=0.02, load_s=2.0)


@pytest.fixture
def toy() -> Iterator[ModelEntry]:
    """A toy model, described in one registration (and forgotten after the test): popularity under another name,
    offered as a baseline, ready to rank without a split, costed like a frozen language model."""
    yield register_model(
        "toy",
        lambda domain, options: Popularity(domain),
        help="the most bought items, under a toy's name",
        trains=True,
        cost=Cost.SCORES,
        baseline="optional",
        fit_sequences=Popularity.fit_sequences,
        title="Toy (most bought)",
        glossary="A model a test registered: the items bought most often.",
    )
    unregister_model("toy")


def test_every_model_is_registered_once_with_its_help_and_roles() -> None:
    assert model_names(sources=False) == ("popularity", "sasrec", "base", "lora")
    assert model_names(sources=True) == ("x-cross", "uniform-merge", "static-mix", "gating")
    assert model_names(trains=False) == ("base", "uniform-merge")
    assert all(model_entry(name).help for name in model_names())
    assert (model_entry("x-cross").role, model_entry("lora").role) == ("subject", "yardstick")
    with pytest.raises(ValueError, match="registered already"):
        register_model("lora", lambda domain, options: Popularity(domain), help="again", trains=True, cost=Cost.COUNTS)
    with pytest.raises(ValueError, match="give it a loop"):
        register_model(
            "loopless", lambda domain, options: Popularity(domain), help="", trains=True, cost=Cost.TRAINS_TEXT
        )
    assert model_entry("loopless") is None


def test_the_proof_of_concepts_baselines_come_from_the_registry() -> None:
    assert model_names(baseline=True) == poc.BASELINES
    assert poc.BASELINES == ("popularity", "sasrec", "uniform-merge", "static-mix", "gating", "lora-full", "zero-shot")
    assert poc.DEFAULT_BASELINES == ("popularity", "lora-full", "zero-shot")
    assert PocSpec.__dataclass_fields__["baselines"].default == poc.DEFAULT_BASELINES
    assert baseline_help("sasrec") == model_entry("sasrec").help and "alone" in baseline_help("zero-shot")
    # The ways only a proof of concept runs a model are no models of their own.
    assert "zero-shot" not in model_names() and "lora-full" not in model_names()
    for name in ("zero-shot", "lora-full"):
        with pytest.raises(ValueError, match="unknown model"):
            check_model_name(name, ["somewhere"])


def test_each_entry_applies_a_seed_and_an_epoch_cap_to_its_own_loop() -> None:
    lora, xcross, popularity = model_entry("lora"), model_entry("x-cross"), model_entry("popularity")
    assert lora.training(seed=3) == replace(ADAPTER_LOOP, seed=3)
    assert xcross.training(seed=1, epochs=2).epochs == 2 and xcross.training().lr == XCROSS_LOOP.lr
    assert popularity.training(seed=3, epochs=2) is None  # it has no loop
    seen = []

    def build(domain, options):
        seen.append(options)
        return Popularity(domain)

    register_model("counts", build, help="popularity again", trains=True, cost=Cost.TRAINS_TEXT, loop=ADAPTER_LOOP)
    try:
        assert isinstance(make_model("counts", make_domain([[0, 1], [1, 2]], 3), seed=4, epochs=2), Popularity)
    finally:
        unregister_model("counts")
    assert (seen[0].seed, seen[0].epochs, seen[0].loop.seed, seen[0].loop.epochs) == (4, 2, 4, 2)


def test_unknown_names_and_missing_sources_are_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model 'nope'; use one of popularity, sasrec, base, lora, "):
        check_model_name("nope")
    with pytest.raises(ValueError, match="combines source adapters"):
        check_model_name("gating")
    check_model_name("gating", ["somewhere"])  # the adapters themselves are checked where they are used
    with pytest.raises(ValueError, match="is not a saved model folder"):
        check_model_name(str(tmp_path))


# -- a model registered in one call is known everywhere ----------------------------------------------------------


def test_a_registered_model_is_a_choice_of_the_cli(toy, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["poc", "--help"])
    assert "gating,lora-full,zero-shot,toy}" in capsys.readouterr().out  # the baselines' choices
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "base, lora, toy, with adapters" in " ".join(capsys.readouterr().out.split())  # the models it evaluates
    check_model_name("toy")  # `xcross evaluate --model toy` and `xcross recommend --model toy` accept it


def test_a_registered_model_runs_in_a_proof_of_concept_at_its_declared_cost(
    toy, source_adapters, sample_electronics, tmp_path
) -> None:
    spec = PocSpec.from_dict(small_poc_params(source_adapters[:2], baselines=["toy"], out=str(tmp_path / "poc")))
    assert plan_keys(spec.adapters, spec.baselines) == ["x-cross", "lora", "toy"] and probed_baselines(spec) == ()
    stages = {s.key: s for s in poc_estimate(spec, sample_electronics, SPEED)}
    tested = len(poc_split(spec, sample_electronics).test)
    assert stages["toy"].seconds == pytest.approx(SPEED.load_s + tested * SPEED.encode_prompt_s)  # not zero
    assert not stages["toy"].alone
    report = poc.run(spec)
    assert report["models"]["toy"]["key"] == "toy" and report["models"]["toy"]["cases"] == tested
    assert report["comparisons_vs_reference"]["toy"]["verdict"]


def test_a_registered_model_is_in_the_studios_lists(toy, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("XCROSS_HOME", str(tmp_path / "workspace"))
    monkeypatch.syspath_prepend(str(ROOT / "app"))  # as `streamlit run app/Home.py` does
    from frames import model_help, ready_defaults, ready_models
    from messages import model_glossary

    from tests.test_app import assert_clean, open_page

    assert ready_models() == {
        "popularity": "Popularity (most bought)",
        "base": "Base language model (no adapter)",
        "toy": "Toy (most bought)",
    }
    assert ready_defaults() == ["popularity"]
    assert "toy" in poc.BASELINES and baseline_help("toy") == toy.help == model_help("toy")
    assert model_glossary()["toy"] == toy.glossary
    # Try it offers it and ranks with it, counted over every customer of the domain.
    at = open_page("views/try_it.py")
    assert at.multiselect[1].options[:3] == ["Popularity (most bought)", "Base language model (no adapter)", toy.title]
    at.multiselect[1].set_value(["toy"])
    at.selectbox(key="try-domain").set_value("Electronics")
    at.radio(key="try-how").set_value("An existing customer").run()
    assert_clean(at)
    assert [m.value for m in at.markdown] == [f"**{toy.title}**"] and len(at.dataframe[0].value) == 10
