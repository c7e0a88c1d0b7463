"""The figures and table of one run, for the variant notebook (notebooks/gpc_mobilenet.ipynb).

- `plot_history(history, title)`: accuracy and loss per epoch, training
  (solid line, circles) against validation (long dashes, squares), the epoch
  with the highest validation accuracy (whose weights are tested) starred;
- `plot_confusion(y_true, y_pred, class_names)`: the confusion matrix, rows
  as % of the true class;
- `confusion_counts`, `per_class_accuracy`: the counts behind it, and per
  class the accuracy and the class most often predicted instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .figure_style import (STAR_STYLE, TRAIN_STYLE, VAL_STYLE, best_epoch, epoch_axis, message,
                           new_figure, percent_axis, report_style)
from .results import labels_of

__all__ = ["plot_history", "plot_confusion", "per_class_accuracy", "confusion_counts"]


def plot_history(history_df: pd.DataFrame | None, title: str, color=None) -> Figure:
    """Accuracy and loss per epoch of one run: training solid, validation long
    dashes, the epoch with the highest validation accuracy starred on both
    panels and marked by a dotted vertical line."""
    with report_style():
        fig, axes = new_figure(1, 2, (10.5, 4.0))
        ax_acc, ax_loss = axes[0]
        if history_df is None or len(history_df) == 0:
            for ax in (ax_acc, ax_loss):
                message(ax, "no finished epoch")
        else:
            train_c = color if color is not None else "#1f4e79"
            val_c = color if color is not None else "#d9730d"
            best, best_val = best_epoch(history_df)
            for ax, kind in ((ax_acc, "accuracy"), (ax_loss, "loss")):
                train_key, val_key = (("accuracy", "val_accuracy") if kind == "accuracy"
                                      else ("loss", "val_loss"))
                ax.plot(history_df["epoch"], history_df[train_key], color=train_c, label="training",
                        **TRAIN_STYLE)
                ax.plot(history_df["epoch"], history_df[val_key], color=val_c, label="validation",
                        **VAL_STYLE)
                if best is not None:
                    y = float(history_df.loc[history_df["epoch"] == best, val_key].iloc[0])
                    ax.axvline(best, color="0.45", lw=0.9, ls=":", zorder=0)
                    ax.plot([best], [y], color=val_c,
                            label=f"best epoch {best}: highest validation accuracy "
                                  f"({best_val:.1%}); its weights are tested",
                            **STAR_STYLE)
                epoch_axis(ax)
                if len(history_df) == 1:
                    ax.set_xlim(0.5, 1.5)
            percent_axis(ax_acc)
            ax_acc.set_ylabel("accuracy")
            ax_loss.set_ylabel("categorical cross-entropy")
            handles, labels = ax_acc.get_legend_handles_labels()
            fig.legend(handles, labels, loc="outside lower center", ncols=3)
        ax_acc.set_title("Accuracy")
        ax_loss.set_title("Loss")
        fig.suptitle(title)
    return fig


def confusion_counts(y_true, y_pred, n_classes: int) -> np.ndarray:
    """counts[i, j]: test images of true class i predicted as j."""
    t, p = labels_of(y_true), labels_of(y_pred)
    if len(t) != len(p):
        raise ValueError(f"{len(t)} true labels but {len(p)} predictions")
    if len(t) and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_accuracy(y_true, y_pred, class_names) -> pd.DataFrame:
    """Per class: test images, correct predictions, accuracy %, and the class
    most often predicted instead."""
    names = [str(n) for n in class_names]
    counts = confusion_counts(y_true, y_pred, len(names))
    images = counts.sum(axis=1)
    correct = np.diag(counts)
    off = counts.copy()
    np.fill_diagonal(off, -1)
    confused = [names[int(off[i].argmax())] if off[i].max() > 0 else "" for i in range(len(names))]
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(images > 0, 100.0 * correct / np.maximum(images, 1), np.nan)
    return pd.DataFrame({"class": names, "images": images, "correct": correct,
                         "accuracy %": acc, "most confused with": confused})


def plot_confusion(y_true, y_pred, class_names, title: str | None = None) -> Figure:
    """Confusion matrix, rows normalised to % of the true class."""
    import seaborn as sns

    names = [str(n) for n in class_names]
    counts = confusion_counts(y_true, y_pred, len(names))
    percent = 100.0 * counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    total = int(counts.sum())
    accuracy = np.trace(counts) / total if total else float("nan")
    with report_style():
        size = 1.1 + 0.62 * len(names)
        fig, axes = new_figure(1, 1, (size + 1.4, size))
        ax = axes[0, 0]
        labels = np.where(counts > 0, np.char.mod("%.0f", percent), "")
        sns.heatmap(percent, ax=ax, annot=labels, fmt="", cmap="Blues", vmin=0, vmax=100,
                    square=True, linewidths=0.4, linecolor="white",
                    xticklabels=names, yticklabels=names, annot_kws={"fontsize": 7.5},
                    cbar_kws={"label": "% of the true class", "shrink": 0.8})
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.tick_params(axis="x", rotation=45)
        ax.tick_params(axis="y", rotation=0)
        ax.set_title(f"{title or 'Confusion matrix'}\n{total:,} test images, accuracy {accuracy:.2%}")
    return fig
