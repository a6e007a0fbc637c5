"""One flow in a real browser, from the purchase logs of two categories to an answer: the real Streamlit server, a
real worker process, headless Chromium.

Upload one file per category (no domain column: the Data page merges them, each category named by its file), whose
categories have no adapter yet; see an adapter training's estimated time on the Adapters page,
pick the target on the PoC page and its other category as a source to train first, read the time estimate (the
training's and the proof of concept's), start once, follow the one run through the training and the proof of
concept, and read the answer on the Results page; back on the PoC page the new adapter is a source trained on this
data, no longer one to train. The workspace holds one tiny-BERT adapter of another shop, ticked as a source, so the
category trains on that tiny base model and the run stays as small as test_e2e.py's. With $XCROSS_SCREENSHOTS set, a
full-page screenshot of every step goes to $XCROSS_SCREENSHOTS/flow (nothing otherwise). Needs Chromium at
/usr/bin/chromium (or $XCROSS_CHROMIUM); skipped without it except in CI.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from tests.studio_helpers import category_files, screenshot, tiny_adapters
from tests.test_e2e import CHROMIUM, HEIGHT, WIDTH, browser, new_tab, no_exception, serving, settle  # noqa: F401
from xcross_core.worker import Workspace

#: The uploaded log's categories: the new one (first in the page's list of them) and the one to train a source for.
TARGET, SOURCE = "Garden", "Tools"
#: The workspace's adapter of another shop, which sets the tiny base model.
OTHER = "Kitchen"

pytestmark = pytest.mark.slow
if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytestmark = [pytest.mark.slow, pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (set XCROSS_CHROMIUM)")]


def shoot(page, name: str) -> None:
    """A full-page screenshot to $XCROSS_SCREENSHOTS/flow when that is set."""
    if os.environ.get("XCROSS_SCREENSHOTS"):
        screenshot(page, Path(os.environ["XCROSS_SCREENSHOTS"]) / "flow" / f"{name}.png", WIDTH, HEIGHT)


@pytest.fixture(scope="module")
def flow_server(tiny_bert, tmp_path_factory):
    """A running studio on a workspace with one tiny adapter of another shop, and the category files to upload;
    yields (url, workspace, files)."""
    workspace = Workspace(tmp_path_factory.mktemp("flow-studio"))
    tiny_adapters(workspace, tiny_bert, (OTHER,))
    files = category_files(tmp_path_factory.mktemp("flow-data"), (TARGET, SOURCE))
    with serving(workspace) as url:
        yield url, workspace, files


def fill(page, label: str, value: str) -> None:
    box = page.get_by_role("spinbutton", name=label) if value.isdigit() else page.get_by_role("textbox", name=label)
    box.fill(value)
    box.press("Tab")


def test_from_a_purchase_log_to_an_answer_training_the_missing_source_in_the_same_run(
    flow_server,
    browser,  # noqa: F811 - the fixture imported from test_e2e
) -> None:
    url, workspace, files = flow_server
    page = new_tab(browser)
    started = time.monotonic()

    # Data: one file per category, titles inline and no domain column: merged, each category named by its file.
    page.goto(f"{url}/Data")
    page.get_by_text("Per domain").wait_for()
    page.get_by_text("Upload a file").click()
    page.locator("input[type='file']").first.set_input_files([str(path) for path in files])
    page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stFileChip\"]').length == 2")
    use = page.get_by_role("button", name="Use these files")
    page.wait_for_function("b => !b.disabled", arg=use.element_handle())
    settle(page)
    use.click()
    page.get_by_text(f"Using Upload: {TARGET}.csv + {SOURCE}.csv").wait_for()
    merged = rf"{SOURCE}\.csv: [\d,]+ rows, rows [\d,]+ to [\d,]+ of merged-.*; domain '{SOURCE}', from its name"
    page.get_by_text(re.compile(merged)).wait_for()
    settle(page)
    assert page.get_by_text("2 of 2").count() == 1  # Domains usable: both categories
    no_exception(page)
    shoot(page, "1_data")

    # Adapters: a training's time is estimated before it starts (here on the packaged base model).
    page.goto(f"{url}/Adapters")
    page.get_by_role("button", name="Start training").wait_for()
    training = page.locator("[data-testid='stMarkdownContainer']").filter(has_text="Estimated time: about")
    training.wait_for(timeout=120_000)
    settle(page)
    no_exception(page)
    assert "at the full epoch budget" in training.inner_text()
    shoot(page, "2_adapters_estimate")

    # PoC run: the target, its other category as a source to train first, small settings, and the estimate.
    page.goto(f"{url}/PoC_run")
    page.get_by_role("button", name="Start the proof of concept").wait_for()
    settle(page)
    train = page.locator("[data-testid='stMultiSelect']").filter(has_text="Source categories to train first")
    train.locator("input").click()
    page.get_by_role("option", name=SOURCE).click()
    page.keyboard.press("Escape")
    settle(page)
    fill(page, "Cap users (0 = all)", "60")
    fill(page, "Epochs per model (at most)", "1")
    fill(page, "Test users", "6")
    fill(page, "Run name", "flow poc")
    # What the page says before Start is what the run will do: 60 of 100 users, 6 of them tested, 25% of 48 train.
    users = page.locator("[data-testid='stMarkdownContainer']").filter(has_text="customers train")
    users.filter(has_text="12 customers train").filter(has_text="tested on 6 other customers").wait_for()
    estimate = page.locator("[data-testid='stMarkdownContainer']").filter(has_text="Estimated time: about")
    estimate.wait_for(timeout=120_000)
    settle(page)
    no_exception(page)
    said = estimate.inner_text()
    assert f"training the adapter of {SOURCE} (about" in said and "then the proof of concept over every source" in said
    shoot(page, "3_poc_estimate")

    # Started once: one run that trains the source, then runs the proof of concept; its stage shows as it goes.
    page.get_by_role("button", name="Start the proof of concept").click()
    page.get_by_text("Started flow poc").first.wait_for()
    page.get_by_text(f"It trains the adapters of {SOURCE} first").wait_for()
    page.get_by_text(re.compile("training source 1 of 1|PoC: ")).first.wait_for(timeout=120_000)
    no_exception(page)
    shoot(page, "4_poc_running")
    store = workspace.store()
    (run,) = store.list()
    assert (run.kind, run.name, run.params["target"]) == ("poc", "flow poc", TARGET)
    assert run.params["train_sources"] == [SOURCE]
    deadline = time.monotonic() + 300
    while store.get(run.id).status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(1)
    final = store.get(run.id)
    assert final.status == "succeeded", final.error
    stages = {point["stage"] for point in final.progress["curve"]}
    assert f"training source 1 of 1: adapter for {SOURCE}" in stages
    page.get_by_text("flow poc ended: succeeded").wait_for(timeout=30_000)
    assert len(store.list()) == 1  # the training was part of the run, not a run of its own
    report = json.loads((Path(final.artifact) / "results.json").read_text())
    assert report["sources"] == [OTHER, SOURCE]

    # Results: the answer, for the target from both sources (6 test customers: Inconclusive, saying why).
    page.goto(f"{url}/Results")
    page.get_by_text("Can it be bootstrapped?").wait_for()
    settle(page)
    no_exception(page)
    assert f"{TARGET}, bootstrapped from {OTHER}, {SOURCE}" in page.locator("body").inner_text()
    assert report["answer"]["outcome"] == "inconclusive"
    answer = page.locator("[data-testid='stAlertContentWarning']").filter(has_text="Inconclusive:")
    assert answer.count() == 1 and "Only 6 test users" in answer.inner_text()
    shoot(page, "5_results")

    # The adapter was saved in the library: the next run offers it as a source trained on this data.
    page.goto(f"{url}/PoC_run")
    page.get_by_role("button", name="Start the proof of concept").wait_for()
    settle(page)
    no_exception(page)
    page.get_by_text(f"{SOURCE} · {SOURCE} adapter (workspace) · trained on this data").first.wait_for()
    assert page.get_by_text("Source categories to train first").count() == 0
    shoot(page, "6_poc_next_time")
    page.close()
    assert time.monotonic() - started < 420
