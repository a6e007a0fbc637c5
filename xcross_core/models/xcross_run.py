"""An X-Cross run folder: `xcross_run.json` (settings, sources, data summary, fit) and the integration's trained
weights, `integration.safetensors` (safetensors only, never pickle).

`save_run` writes one atomically; `load_run` reads one back as a recommender. A folder read back is checked
before anything is built or read from it: the JSON's keys and types (`read_run_config`), its source adapters
(as `adapters.current_metadata` checks them, and against what the run recorded), and the weights file's
header against the configuration (tensor names, shapes and byte ranges). A malformed or hostile folder is
one ArtifactError naming the file and the problem; nothing larger than the weights file holds is allocated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file

from xcross_core.data.dataset import DomainData
from xcross_core.models.adapters import METADATA, check_text_fits, checked_text
from xcross_core.models.artifacts import ArtifactError, TensorInfo, dataclass_from, read_json, tensor_header
from xcross_core.models.sources import source_metadata
from xcross_core.models.xcross import XCrossConfig, XCrossRecommender, xcross_recommender
from xcross_core.paths import portable, resolve
from xcross_core.training.loop import LoopConfig

RUN_CONFIG = "xcross_run.json"
RUN_WEIGHTS = "integration.safetensors"

#: Keys of xcross_run.json that loading needs, and the JSON type of each.
_REQUIRED = {"adapters": list, "xcross": dict, "text": dict, "loop": dict}
#: The integration form this library builds; a run of another form (earlier versions had them) is refused.
_BUILT_FORM = {"weights": "signed", "refine": "add", "granularity": "token", "channel_gain": False}


def save_run(
    recommender: XCrossRecommender,
    run_dir: str | Path,
    adapters: Sequence[str | Path],
    metadata: dict[str, object] | None = None,
) -> Path:
    """Write an X-Cross run folder: config JSON and the integration weights (safetensors), atomically."""
    from safetensors.torch import save_file

    from xcross_core.models.adapters import atomic_folder

    encoder = recommender.encoder
    state = {
        n: p.detach().cpu().contiguous()
        for n, p in encoder.named_parameters()
        if p.requires_grad or n.startswith("item_head.")
    }
    config = {
        "kind": "xcross-run",
        "target": recommender.domain.name,
        "sources": recommender.sources,
        # Relative to the run folder, so a workspace moved or shared as a whole still loads.
        "adapters": [portable(a, run_dir) for a in adapters],
        "base": encoder.info.name,
        "xcross": asdict(encoder.config),
        "text": asdict(recommender.config),
        "loop": asdict(recommender.loop),
        "trainable_parameters": recommender.trainable_parameters,
        **(metadata or {}),
    }
    with atomic_folder(run_dir) as tmp:
        save_file(state, str(tmp / RUN_WEIGHTS))
        (tmp / RUN_CONFIG).write_text(json.dumps(config, indent=2, default=str))
    return Path(run_dir)


def read_run_config(run_dir: str | Path) -> dict[str, object]:
    """A run folder's xcross_run.json, with the keys loading needs checked (their contents: `load_run`).

    Raises FileNotFoundError when the folder is not a run folder, ArtifactError when the file is malformed.
    """
    path = Path(run_dir) / RUN_CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not an X-Cross run folder (no {RUN_CONFIG})")
    config = read_json(path)
    if config.get("kind") != "xcross-run":
        raise ArtifactError(path, f"kind is {config.get('kind')!r}, not 'xcross-run'")
    for key, kind in _REQUIRED.items():
        if key not in config:
            raise ArtifactError(path, f"is missing {key!r}")
        if not isinstance(config[key], kind):
            wanted = "a list" if kind is list else "a JSON object"
            raise ArtifactError(path, f"{key!r} is {type(config[key]).__name__}, not {wanted}")
    if not config["adapters"] or not all(isinstance(a, str) and a for a in config["adapters"]):
        raise ArtifactError(path, "'adapters' must name the run's source adapter folders")
    sources = config.get("sources")
    if sources is not None and not (isinstance(sources, list) and all(isinstance(s, str) for s in sources)):
        raise ArtifactError(path, f"'sources' is {sources!r}, not a list of domain names")
    if not isinstance(config.get("base", ""), str):
        raise ArtifactError(path, f"'base' is {config['base']!r}, not a model name")
    return config


def load_run(run_dir: str | Path, domain: DomainData) -> XCrossRecommender:
    """An X-Cross run folder as a recommender over `domain`'s catalogue.

    Checked in order, each before anything larger is built: the config; the source adapters; the weights'
    header against the config (so the integration built is no larger than the file); then every weight's
    name and shape against the built integration, before any weight is read. Raises ArtifactError (a
    ValueError) naming the file and the problem, FileNotFoundError for a folder that is not a run folder.
    """
    run_dir = Path(run_dir)
    path, weights = run_dir / RUN_CONFIG, run_dir / RUN_WEIGHTS
    config = read_run_config(run_dir)
    xcross = _stored_config(path, config["xcross"])
    text = checked_text(config["text"], path)
    loop = dataclass_from(LoopConfig, config["loop"], path, "'loop'", positive=("batch_size",))
    if not 0 <= loop.seed < 2**63:
        raise ArtifactError(path, f"'loop': seed {loop.seed} is out of range")
    adapters = [resolve(a, run_dir) for a in config["adapters"]]
    _check_sources(path, config, adapters)
    header = tensor_header(weights)
    for name, size in (("project.bias", xcross.summary_dim), ("gate.bias", len(adapters))):
        if name not in header or header[name].shape != (size,):
            found = list(header[name].shape) if name in header else "missing"
            raise ArtifactError(weights, f"{name} is {found}; {RUN_CONFIG} implies [{size}]")
    recommender = xcross_recommender(domain, adapters, xcross, text, loop)
    encoder = recommender.encoder
    check_text_fits(text, encoder.model, path)
    # The integration's parameters, and the item head it trained on the target (`text.ItemHead`), if any.
    expected = {
        n: tuple(p.shape) for n, p in encoder.named_parameters() if p.requires_grad or n.startswith("item_head.")
    }
    _check_weights(weights, header, expected)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as err:
        raise ArtifactError(weights, f"cannot be read: {err}") from None
    encoder.load_state_dict(state, strict=False)
    return recommender


def _stored_config(path: Path, stored: dict[str, object]) -> XCrossConfig:
    """The run's XCrossConfig; a run of an integration form this library no longer builds is refused."""
    if any(stored.get(k, v) != v for k, v in _BUILT_FORM.items()):
        raise ArtifactError(path, "trained with an integration form no longer available; train it again")
    rest = {k: v for k, v in stored.items() if k not in _BUILT_FORM}
    return dataclass_from(XCrossConfig, rest, path, "'xcross'", positive=("summary_dim",))


def _check_sources(path: Path, config: dict[str, object], adapters: list[Path]) -> None:
    """The run's source adapters exist, can be integrated, and are what the run recorded."""
    for stored, folder in zip(config["adapters"], adapters, strict=True):
        if not (folder / METADATA).is_file():
            raise ArtifactError(path, f"its source adapter {stored!r} ({folder}) is not an adapter folder")
    metas = source_metadata(adapters)
    domains = [m.domain for m in metas]
    if config.get("sources", domains) != domains:
        raise ArtifactError(path, f"records sources {config['sources']}, but its adapters are of {domains}")
    if config.get("base", metas[0].base) != metas[0].base:
        raise ArtifactError(path, f"records base {config['base']!r}, but its adapters sit on {metas[0].base!r}")


def _check_weights(path: Path, header: dict[str, TensorInfo], expected: dict[str, tuple[int, ...]]) -> None:
    """The weights file declares exactly the integration's parameters, each of its shape."""
    missing, extra = sorted(set(expected) - set(header)), sorted(set(header) - set(expected))
    if missing or extra:
        parts = [f"lacks {', '.join(missing)}" if missing else "", f"has unknown {', '.join(extra)}" if extra else ""]
        raise ArtifactError(path, f"does not match the run's configuration: {'; '.join(p for p in parts if p)}")
    for name, shape in expected.items():
        if header[name].shape != shape:
            raise ArtifactError(path, f"{name} has shape {list(header[name].shape)}, the run needs {list(shape)}")
