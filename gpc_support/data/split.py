"""Which images train, validate and test: balanced subsets and the two validation splits.

`SPLITS` names the splits a profile may ask for: "random" (a stratified random
hold-out, seeded) and "authors" (the method authors' fixed split).  Pure NumPy.
"""

from __future__ import annotations

import numbers

import numpy as np


class DataError(ValueError):
    """Bad or missing data; the message names the parameter and what is expected."""


SPLITS = ("random", "authors")


def _check_limit(value, name: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    return int(value)


def _balanced_quotas(counts: np.ndarray, limit: int) -> np.ndarray:
    """Per-class counts summing to `limit`, as equal as the class sizes allow.

    Water filling: every class gets an equal share, classes that run out give
    their rest to the others; a remainder smaller than the number of classes
    goes one each to the first classes in label order.
    """
    quotas = np.zeros_like(counts)
    remaining = limit
    while remaining > 0:
        open_classes = np.flatnonzero(quotas < counts)
        share = remaining // len(open_classes)
        if share == 0:
            quotas[open_classes[:remaining]] += 1
            break
        add = np.minimum(share, counts[open_classes] - quotas[open_classes])
        quotas[open_classes] += add
        remaining -= int(add.sum())
    return quotas


def _balanced_subset(labels: np.ndarray, limit: int | None, rng) -> np.ndarray:
    """Sorted indices of a class-balanced random subset of at most `limit` items."""
    if limit is None or limit >= len(labels):
        return np.arange(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    quotas = _balanced_quotas(counts, limit)
    picks = [
        rng.choice(np.flatnonzero(labels == c), q, replace=False)
        for c, q in zip(classes, quotas)
    ]
    return np.sort(np.concatenate(picks))


def _split_indices(labels: np.ndarray, fraction: float, rng):
    """(train, val) indices: stratified, seeded, disjoint, covering all items.

    The validation set has round(n * fraction) items (at least 1, at most
    n - 1), spread over the classes in proportion to their sizes (largest
    remainders get the leftovers).  Both index arrays come in a seeded
    random order, so neither split is sorted by class.
    """
    n = len(labels)
    if n < 2:
        raise DataError(f"need at least 2 training images to split off validation, got {n}")
    n_val = min(max(round(n * fraction), 1), n - 1)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n_val / n
    quotas = np.floor(exact).astype(np.int64)
    leftover = n_val - int(quotas.sum())
    quotas[np.argsort(-(exact - quotas), kind="stable")[:leftover]] += 1
    train, val = [], []
    for c, q in zip(classes, quotas):
        members = rng.permutation(np.flatnonzero(labels == c))
        val.append(members[:q])
        train.append(members[q:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(val))


def _authors_split_indices(labels: np.ndarray, fraction: float):
    """(train, val) indices by the method authors' rule, in source order.

    Keras 2.6's `flow_from_directory(validation_split=fraction)` lists each
    class folder's files in sorted name order and makes the first
    int(fraction * n) of them (n = the class's files) the validation subset,
    the rest the training subset.  Here "sorted name order" is the order of
    the arrays: image folders are read class by class in sorted file-name
    order, and array sources keep their own order, so the same rule applies
    to them: the first int(fraction * n) images of each class in the order
    of the source.  No randomness.
    """
    val = []
    classes, counts = np.unique(labels, return_counts=True)
    for c in classes:
        members = np.flatnonzero(labels == c)
        val.append(members[:int(fraction * len(members))])
    val = np.sort(np.concatenate(val))
    if len(val) == 0 or len(val) == len(labels):
        raise DataError(
            f"validation_fraction={fraction!r} leaves "
            f"{'no validation' if len(val) == 0 else 'no training'} image under the authors' "
            f"split (int(fraction * n) of each class's n images; the classes have "
            f"{counts.min()}..{counts.max()}); use more images or split='random'")
    train = np.setdiff1d(np.arange(len(labels)), val, assume_unique=True)
    return train, val


