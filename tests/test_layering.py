"""Imports point down only (docs/ARCHITECTURE.md, DESIGN.md "Layout"): an ast walk over every module of the package.

Every ``import`` and ``from ... import`` inside ``uclaf_plugin``, at module level or inside a function, is an edge
between two modules. The walk fails on an import cycle between modules, on a module importing a layer above its own,
and on a core module importing any of data, training, pipeline, baselines, integrations, bench or cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "uclaf_plugin"

# Bottom to top (DESIGN.md "Layout"). A module may import its own layer and the layers below it.
LAYERS = [
    "util",
    "core",
    "contrastive",
    "model",
    "data",
    "training",
    "pipeline",
    "baselines",
    "integrations",
    "bench",
    "cli",
]
ABOVE_CORE = {"data", "training", "pipeline", "baselines", "integrations", "bench", "cli"}

# Each module's layer; the folders show it (encoders/ and heads/ are core, baselines/ and integrations/ their
# own layers). Longest prefix wins; every module must be covered (test below).
LAYER_OF = {
    # The package root holds __version__ and re-exports the public API lazily (importlib at attribute access, no
    # static imports), so it is a leaf; it names only itself, not the modules below it.
    "uclaf_plugin": "util",
    "uclaf_plugin.files": "util",  # atomic writes and JSON files: no project imports
    "uclaf_plugin.constraints": "util",  # declared constraints on settings (Interval, Options): no project imports
    "uclaf_plugin.diagnostics": "util",  # host-sync counter for tests and benchmarks: no project imports
    "uclaf_plugin.onnx_serve": "util",  # standalone ONNX Runtime server copied into exports: no project imports
    "uclaf_plugin.positives": "core",
    "uclaf_plugin.sparse_labels": "core",  # sparse multi-hot label helpers for the loss, queue and BCE
    "uclaf_plugin.losses": "core",
    "uclaf_plugin.memory": "core",
    "uclaf_plugin.augment": "core",
    "uclaf_plugin.metrics": "core",
    "uclaf_plugin.thresholds": "core",  # decision thresholds tuned on validation scores
    "uclaf_plugin.heads": "core",
    "uclaf_plugin.shortlist": "core",  # label clusters and candidate shortlists for label-wise attention
    "uclaf_plugin.encoders": "core",
    "uclaf_plugin.encoders.transformer": "core",  # encoder: the Hugging Face transformer
    "uclaf_plugin.encoders.xmlcnn": "core",  # encoder: XML-CNN's convolutions (its head is in heads/)
    "uclaf_plugin.encoders.attentionxml": "core",  # encoder: AttentionXML's BiLSTM
    "uclaf_plugin.contrastive": "contrastive",
    "uclaf_plugin.model": "model",
    "uclaf_plugin.data": "data",
    "uclaf_plugin.data.batches": "data",  # token ids and targets -> padded tensor batches, seeded per epoch
    "uclaf_plugin.train": "training",
    "uclaf_plugin.training": "training",
    "uclaf_plugin.train.checkpoint": "training",  # the typed checkpoint, saved and restored in one place
    "uclaf_plugin.train.distributed": "training",  # torch.distributed: ranks, devices, DDP, stop agreement, launch
    "uclaf_plugin.train.progress_bar": "training",
    "uclaf_plugin.pipeline": "pipeline",
    "uclaf_plugin.text_trainer": "pipeline",  # fits a TextClassifier on texts: tokenises, batches, calls Trainer
    # label-specificity of a TextClassifier's attention: tensor maths plus a helper that pads through pipeline
    "uclaf_plugin.specificity": "pipeline",
    "uclaf_plugin.baselines.linear": "baselines",  # TF-IDF linear models
    "uclaf_plugin.baselines": "baselines",
    "uclaf_plugin.integrations.sklearn": "integrations",  # scikit-learn / scikit-multilearn estimator
    "uclaf_plugin.integrations.libmultilabel": "integrations",  # LibMultiLabel networks
    "uclaf_plugin.integrations": "integrations",
    "uclaf_plugin.predict": "integrations",  # label sets from a neural or linear run folder, streamed over files
    "uclaf_plugin.export": "integrations",  # ONNX export of a run's inference path
    "uclaf_plugin.bench": "bench",
    "uclaf_plugin.cli": "cli",
    "uclaf_plugin.cli_options": "cli",  # the CLI's options, declared once
    "uclaf_plugin.cli_subcommands": "cli",  # the data and plot sub-commands
}

# Known upward imports, each to be removed by the change named beside it. Do not add to this list: fix the import.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its body (``from . import x`` names module ``x``)."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names
            ]
        else:
            continue
        found.update(target for target in targets if target in MODULES and target != name)
    return found


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def layer(name: str) -> str:
    prefixes = [
        prefix
        for prefix in LAYER_OF
        if name == prefix or (prefix != "uclaf_plugin" and name.startswith(prefix + "."))
    ]
    if not prefixes:
        raise KeyError(name)
    return LAYER_OF[max(prefixes, key=len)]


def test_every_module_has_a_layer():
    unplaced = []
    for name in MODULES:
        try:
            layer(name)
        except KeyError:
            unplaced.append(name)
    assert not unplaced, f"add these modules to LAYER_OF in {__file__}: {unplaced}"


def test_no_import_cycles():
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for child in sorted(GRAPH[node]):
            if state.get(child) == "open":
                cycle = trail[trail.index(child) :] + [child] if child in trail else [node, child]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if child not in state:
                visit(child, [*trail, child])
        state[node] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


def upward_imports() -> set[tuple[str, str]]:
    return {
        (source, target)
        for source, targets in GRAPH.items()
        for target in targets
        if LAYERS.index(layer(target)) > LAYERS.index(layer(source))
    }


def test_imports_point_down_only():
    unexpected = upward_imports() - KNOWN_UPWARD
    assert not unexpected, "imports that point up a layer: " + ", ".join(
        f"{source} ({layer(source)}) -> {target} ({layer(target)})" for source, target in sorted(unexpected)
    )


def test_known_exceptions_are_still_needed():
    fixed = KNOWN_UPWARD - upward_imports()
    assert not fixed, f"these imports no longer point up; remove them from KNOWN_UPWARD: {sorted(fixed)}"


def test_core_imports_nothing_above_the_model():
    core = [name for name in GRAPH if layer(name) in {"core", "contrastive", "model"}]
    assert {"uclaf_plugin.losses", "uclaf_plugin.heads", "uclaf_plugin.model"} <= set(core)
    leaks = [(source, target) for source in core for target in GRAPH[source] if layer(target) in ABOVE_CORE]
    assert not leaks, f"core modules import upper layers: {leaks}"


def test_the_walk_sees_function_level_and_relative_imports():
    # bench.runner imports the specificity diagnostic inside a function, and bench.commands imports ..train lazily
    assert "uclaf_plugin.specificity" in GRAPH["uclaf_plugin.bench.runner"]
    assert "uclaf_plugin.train" in GRAPH["uclaf_plugin.bench.commands"]
    assert {"uclaf_plugin.data.aapd", "uclaf_plugin.data.paths"} <= GRAPH["uclaf_plugin.data.fetch"]


def test_only_public_pytorch_metric_learning_modules():
    """PML 3.0 removes ``utils.loss_and_miner_utils`` and makes the rest of ``utils`` private (issue 16)."""
    public = ("losses", "distances", "reducers", "miners", "regularizers")
    used = set()
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pytorch_metric_learning"):
                used.update(
                    node.module + "." + alias.name
                    if node.module == "pytorch_metric_learning"
                    else node.module
                    for alias in node.names
                )
            elif isinstance(node, ast.Import):
                used.update(a.name for a in node.names if a.name.startswith("pytorch_metric_learning"))
    assert used, "the package builds on pytorch-metric-learning"
    private = sorted(module for module in used if module.split(".")[1] not in public)
    assert not private, f"non-public pytorch_metric_learning modules imported: {private}"
