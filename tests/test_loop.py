"""The training loop's model selection: the best validated weights are kept, the starting ones included."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from xcross_core.training.events import FitReport
from xcross_core.training.loop import LoopConfig, fit_loop


class Scalar(nn.Module):
    """One trainable number w, starting at 0; training pulls it towards 1."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))


def _loss(module: nn.Module, batch: list[float], device: torch.device) -> torch.Tensor:
    return ((module.w - torch.tensor(batch, device=device)) ** 2).mean()


CASES = np.linspace(0.0, 1.0, 20)  # fixed per-case offsets: a change of w moves every case alike


def _fit(optimum: float, noise: float = 0.0, **overrides: object) -> tuple[Scalar, FitReport]:
    """Train on targets of 1.0 while validation prefers w = `optimum`, each case with fresh `noise`."""
    model, rng = Scalar(), np.random.default_rng(0)
    config = replace(LoopConfig(epochs=4, batch_size=2, lr=0.1, patience=4), **overrides)

    def validate() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mrr = CASES - float((model.w - optimum) ** 2) + noise * rng.standard_normal(len(CASES))
        return np.zeros(len(CASES)), mrr, np.zeros(len(CASES))  # NDCG@10 flat, as with few hits: MRR decides

    return model, fit_loop(model, [1.0] * 8, _loss, config, validate=validate)


def test_an_epoch_that_validates_better_than_the_start_is_kept() -> None:
    model, report = _fit(optimum=1.0)
    assert report.start_valid_mrr == pytest.approx(CASES.mean() - 1.0) and report.selected_on == "mrr"
    assert report.best_epoch >= 1
    assert report.valid_mrr[report.best_epoch - 1] == max(report.valid_mrr)
    assert report.start_gain_p < 0.05 and model.w.item() > 0


def test_the_starting_weights_are_kept_when_no_epoch_validates_better() -> None:
    model, report = _fit(optimum=0.0)
    assert len(report.valid_mrr) == 4 and max(report.valid_mrr) < CASES.mean()
    assert report.best_epoch == 0 and report.best_valid_ndcg10 == report.start_valid_ndcg10
    assert model.w.item() == 0.0


def test_the_start_is_kept_when_the_best_epoch_gains_less_than_the_validation_noise() -> None:
    # The true gain is 1 - (w - 1)^2 at most; per-case noise of sd 20 over 20 cases swamps it.
    model, report = _fit(optimum=1.0, noise=20.0)
    assert max(report.valid_mrr) > report.start_valid_mrr  # some epoch validated higher...
    assert report.start_gain_p >= 0.05 and report.best_epoch == 0  # ...but not significantly
    assert model.w.item() == 0.0
    _, plain = _fit(optimum=1.0, noise=20.0, replace_start_p=None)  # without the test, the higher one wins
    assert plain.best_epoch >= 1 and plain.start_gain_p is None


def test_begin_runs_after_the_start_is_kept_so_falling_back_restores_the_untrained_weights() -> None:
    model, seen = Scalar(), []

    def begin() -> None:  # where training starts: a prior that validation will find worse than the start
        seen.append(model.w.item())
        with torch.no_grad():
            model.w.fill_(5.0)

    def validate() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.zeros(20), CASES - float(model.w) ** 2, np.zeros(20)

    report = fit_loop(
        model, [1.0] * 4, _loss, LoopConfig(epochs=2, batch_size=2, lr=0.0), validate=validate, begin=begin
    )
    assert seen == [0.0] and report.start_valid_mrr == pytest.approx(CASES.mean())  # the start: before begin
    assert report.best_epoch == 0 and model.w.item() == 0.0  # fell back to the untrained weights, not the prior


def test_a_small_training_set_is_passed_over_until_an_epoch_has_min_epoch_steps() -> None:
    steps: list[int] = []
    config = LoopConfig(epochs=2, batch_size=2, lr=0.1, min_epoch_steps=5)
    report = fit_loop(Scalar(), [1.0] * 4, _loss, config, progress=lambda event: steps.append(event.step))
    # 2 steps a pass -> 3 passes an epoch (6 steps, the fewest whole passes that reach 5).
    assert report.steps == len(steps) == 12 and steps[-1] == 12
    assert fit_loop(Scalar(), [1.0] * 4, _loss, LoopConfig(epochs=2, batch_size=2, lr=0.1)).steps == 4


def test_patience_counts_from_the_best_trained_epoch_so_a_strong_start_does_not_stop_training() -> None:
    # Validation: the start scores 0.5; epochs 1-3 dip below it but keep improving; epoch 4 overtakes it.
    scores = iter([0.5, 0.40, 0.41, 0.42, 0.9, 0.8, 0.8, 0.8])
    model = Scalar()
    config = LoopConfig(epochs=8, batch_size=2, lr=0.1, patience=3)
    report = fit_loop(
        model, [1.0] * 4, _loss, config, validate=lambda: (CASES, np.full(20, next(scores)) + CASES, CASES)
    )
    assert report.best_epoch == 4 and report.epochs == 7 and report.stopped_early
    assert report.start_gain_p < 0.05


@pytest.mark.parametrize("select", ["mrr", "log_likelihood"])
def test_the_chosen_measure_decides_and_ndcg_is_reported(select: str) -> None:
    # NDCG@10 prefers the start (it falls every epoch); the chosen measure prefers the trained epochs, the other
    # measure the start.
    ndcg, rising, falling = iter([0.5, 0.4, 0.3]), iter([0.1, 0.2, 0.3]), iter([-3.0, -4.0, -5.0])
    config = LoopConfig(epochs=2, batch_size=2, lr=0.1, patience=3, select=select)

    def validate() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        up, down = np.full(20, next(rising)) + CASES, np.full(20, next(falling)) + CASES
        return np.full(20, next(ndcg)), *((up, down) if select == "mrr" else (down, up))

    report = fit_loop(Scalar(), [1.0] * 4, _loss, config, validate=validate)
    assert report.best_epoch == 2 and report.valid_ndcg10 == pytest.approx([0.4, 0.3])
    assert report.start_valid_ndcg10 == pytest.approx(0.5) and report.best_valid_ndcg10 == pytest.approx(0.3)
    assert report.selected_on == select


def test_an_unknown_selection_measure_is_refused() -> None:
    with pytest.raises(ValueError, match="select"):
        fit_loop(Scalar(), [1.0] * 4, _loss, LoopConfig(select="ndcg"), validate=lambda: (CASES, CASES, CASES))


class Noisy(nn.Module):
    """A linear layer behind dropout: every training step draws a dropout mask."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layer = nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 1))


def _noisy_loss(module: nn.Module, batch: list[float], device: torch.device) -> torch.Tensor:
    x = torch.tensor(batch, device=device)[:, None].expand(-1, 4)
    return module.layer(x).pow(2).mean()


def test_dropout_draws_from_the_runs_own_generator() -> None:
    config = LoopConfig(epochs=2, batch_size=2, lr=0.1, seed=3)
    quiet = Noisy()
    fit_loop(quiet, [1.0, 2.0, 3.0, 4.0], _noisy_loss, config)
    disturbed = Noisy()
    # Another model drawing from torch's global generator between steps must not change this one's masks.
    fit_loop(disturbed, [1.0, 2.0, 3.0, 4.0], _noisy_loss, config, progress=lambda event: torch.rand(7))
    assert torch.equal(quiet.layer[1].weight, disturbed.layer[1].weight)
    other_seed = Noisy()
    fit_loop(other_seed, [1.0, 2.0, 3.0, 4.0], _noisy_loss, replace(config, seed=4))
    assert not torch.equal(quiet.layer[1].weight, other_seed.layer[1].weight)  # the masks did draw from it
    assert type(quiet.layer[0]) is nn.Dropout  # the module's own dropout is back after training


def test_a_trained_model_drops_nothing_when_it_is_tested_afterwards() -> None:
    model = Noisy()  # built in training mode, as a fresh model is
    fit_loop(model, [1.0, 2.0, 3.0, 4.0], _noisy_loss, LoopConfig(epochs=1, batch_size=2, lr=0.1))
    assert not any(m.training for m in model.modules())  # its own dropout is back in evaluation mode too
    x = torch.ones(3, 4)
    torch.testing.assert_close(model.layer(x), model.layer(x))  # no mask drawn: the same scores twice


def test_a_batch_in_pieces_trains_as_the_whole_batch() -> None:
    config = LoopConfig(epochs=3, batch_size=4, lr=0.1)
    examples = [0.2, 0.9, 1.4, -0.3, 0.7, 2.0, 1.1, 0.5]
    whole, pieced, calls = Scalar(), Scalar(), []

    def one_by_one(batch: list[float]) -> list[list[float]]:
        calls.append(len(batch))
        return [[example] for example in batch]

    whole_report = fit_loop(whole, examples, _loss, config)
    pieced_report = fit_loop(pieced, examples, _loss, config, pieces=one_by_one)
    assert calls and all(size == 4 for size in calls)  # every step's batch went through the pieces
    assert pieced.w.item() == pytest.approx(whole.w.item(), rel=1e-6)
    assert pieced_report.losses == pytest.approx(whole_report.losses, rel=1e-6)
