"""Export an X-Cross run's contribution weights: every source's weight at every layer, for every user of a domain."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from xcross_core.data.output import atomic_file
from xcross_core.data.report import spreadsheet_safe
from xcross_core.jobs.hooks import SILENT, Hooks
from xcross_core.jobs.inputs import DataSpec, as_spec_error, domain_of, load_data
from xcross_core.jobs.outputs import check_output_file
from xcross_core.jobs.spec import option
from xcross_core.models.xcross import weights_frame
from xcross_core.models.xcross_run import load_run


@dataclass(frozen=True, kw_only=True)
class WeightsSpec(DataSpec):
    """Export per-user, per-layer source weights of a run."""

    run: Path = option("X-Cross run folder")
    domain: str = option("domain whose users to export")
    out: Path = option("CSV: user_id,layer,source,weight")

    def check(self) -> None:
        super().check()
        check_output_file("out", self.out, self.inputs())


def run(spec: WeightsSpec, hooks: Hooks = SILENT) -> pd.DataFrame:
    """Load the run over the domain, compute every user's weights, write them to `out` (whole or not at all);
    returns the table."""
    domain = domain_of(load_data(spec, hooks, domain=spec.domain), spec.domain, usable=False)
    with as_spec_error():
        model = load_run(spec.run, domain)
    table = weights_frame(model, domain.user_ids, domain.sequences())
    with atomic_file(spec.out) as tmp:
        spreadsheet_safe(table).to_csv(tmp, index=False)
    return table
