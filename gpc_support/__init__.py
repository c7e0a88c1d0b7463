"""gpc_support: grouped pointwise convolutions (GPC) for Keras 3, and the study of them.

Subpackages, imported one way (common <- model, data <- train <- run; report
reads common and model; deploy reads model; nothing imports run):

- `common`: atomic files, the run lock, environment, paths, the run-folder layout,
  argument checks;
- `model`: the GPC layer and D6 block, the networks, the variant registry, counts;
- `data`: CIFAR-10 sources and cache, split, input pipeline, augmentation;
- `train`: profiles, optimizers, the training engine, provenance, TensorBoard;
- `report`: reading results, tables, statistics, figures, the summary;
- `run`: the command line, notebook execution, executors, progress;
- `deploy`: native grouped convolutions, LiteRT and ONNX export.

The flat module names of earlier versions (`gpc_support.layers`,
`gpc_support.batch`, ...) resolve here: to the module that replaced them, or
to an ImportError that names it.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# old flat module -> its successor
MOVED = {
    "files": "common.atomic_files", "runlock": "common.run_lock",
    "environment": "common.environment", "quiet": "common.quiet_startup",
    "layers": "model.layers", "models": "model.networks", "metrics": "model.counts",
    "data": "data.sources", "augment": "data.augment", "feeding": "data.array_feeder",
    "embedded": "data.embedded", "profiles": "train.profiles", "optimizers": "train.optimizers",
    "training": "train.engine", "provenance": "train.provenance",
    "tensorboard_log": "train.tensorboard_log", "authors": "train.authors_weights",
    "reporting": "report", "runs": "report.results", "tables": "report.tables",
    "significance": "report.comparisons", "figures": "report",
    "ablation": "report.ablation", "fair_baseline": "report.fair_baseline",
    "summary_text": "report.summary_text", "report_values": "report.published_values",
    "computation": "report.architecture_counts", "batch": "run.cli",
    "scaleout": "run.executors", "summary_notebook": "run.summary_notebook",
    "notebook_paths": "run.notebook_scrub", "progress": "run.progress",
    "deploy.ablation": "deploy.operator_removal",
    # its figures are in report.figure_style, report.run_figures and report.summary_figures;
    # the report package exports them all
    "report.figures": "report",
    "data.cifar10": "data.sources", "report.statistics": "report.comparisons",
}
# old names that still import (as their successor): the ones the README and
# the committed notebooks show; the others raise an ImportError naming the new place
ALIASED = {"layers", "models", "reporting", "training", "metrics", "quiet", "computation"}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Last on sys.meta_path: only names no file provides reach it."""

    def find_spec(self, fullname, path=None, target=None):
        old = fullname.partition(__name__ + ".")[2]
        if not fullname.startswith(__name__ + ".") or old not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        old = spec.name.partition(__name__ + ".")[2]
        new = f"{__name__}.{MOVED[old]}"
        if old not in ALIASED:
            raise ImportError(f"{spec.name} has moved to {new}; import it from there",
                              name=spec.name)
        return importlib.import_module(new)

    def exec_module(self, module):
        pass


sys.meta_path.append(_MovedModules())
