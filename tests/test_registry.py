"""The model registry: one registration per model, read by the CLI's choices, the PoC's baselines and make_model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_domain
from xcross_core.jobs.poc import BASELINES, DEFAULT_BASELINES, baseline_help
from xcross_core.models import registry
from xcross_core.models.popularity import Popularity
from xcross_core.models.registry import check_model_name, make_model, model_entry, model_names, register_model


def test_every_model_is_registered_once_with_its_help_and_roles() -> None:
    assert model_names(sources=False) == ("popularity", "sasrec", "base", "lora")
    assert model_names(sources=True) == ("x-cross", "uniform-merge", "static-mix", "gating")
    assert model_names(trains=False) == ("base", "uniform-merge")
    assert all(model_entry(name).help for name in model_names())
    with pytest.raises(ValueError, match="registered already"):
        register_model("lora", lambda domain, options: Popularity(domain), help="again", trains=True)


def test_the_proof_of_concepts_baselines_come_from_the_registry() -> None:
    assert (*model_names(baseline=True), "lora-full", "zero-shot") == BASELINES
    assert model_names(baseline=True) == ("popularity", "sasrec", "uniform-merge", "static-mix", "gating")
    assert DEFAULT_BASELINES == ("popularity", "lora-full", "zero-shot")
    assert baseline_help("sasrec") == model_entry("sasrec").help and "zero-shot" not in model_names()
    assert "alone" in baseline_help("zero-shot")


def test_a_registered_model_is_known_everywhere_by_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    seen = []

    def build(domain, options):
        seen.append(options)
        return Popularity(domain)

    register_model("counts", build, help="popularity under another name", trains=True, baseline="optional")
    domain = make_domain([[0, 1], [1, 2]], 3)
    model = make_model("counts", domain, seed=4, epochs=2)
    assert isinstance(model, Popularity) and (seen[0].seed, seen[0].epochs) == (4, 2)
    assert "counts" in model_names(sources=False) and "counts" in model_names(baseline=True)
    check_model_name("counts")


def test_unknown_names_and_missing_sources_are_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model 'nope'; use one of popularity, sasrec, base, lora, "):
        check_model_name("nope")
    with pytest.raises(ValueError, match="combines source adapters"):
        check_model_name("gating")
    check_model_name("gating", ["somewhere"])  # the adapters themselves are checked where they are used
    with pytest.raises(ValueError, match="is not a saved model folder"):
        check_model_name(str(tmp_path))
