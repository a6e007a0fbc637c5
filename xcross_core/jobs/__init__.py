"""The jobs: every use case of the library as a checked spec and one `run(spec, hooks)`.

One module per use case: `validate`, `recommend`, `evaluate`, `train_adapter`, `train_xcross`, `weights`, `study`,
`poc` and `poc_sources` (a proof of concept that first trains the source adapters it lacks). Each holds a frozen
spec dataclass (`...Spec`) that checks itself when built and reads stored parameters with `from_dict`, and a
`run(spec, hooks)` that does the work. The CLI, the background worker, the studio and the benches only translate
their inputs into specs and call `run`; `hooks` (see `hooks.py`) carry progress, cancellation, stages and notes
back to them. `spec.py` holds the spec machinery, `inputs.py` the parts specs share (data files, split, base model,
source adapters, outputs).
"""
