"""The benchmark's CSV tables: writing rows, and reading a latency.csv back with numbers as numbers."""

from __future__ import annotations

import csv


def write_csv(path, rows):
    if not rows:
        return
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


NUMERIC = {"image_size": int, "threads": int, "runs": int, "macs": int}


def read_latency_csv(path):
    """The rows of a latency.csv as write_csv writes them: numbers as numbers, empty cells None."""
    rows = []
    with open(path, newline="") as handle:
        for raw in csv.DictReader(handle):
            row = {}
            for key, cell in raw.items():
                if cell in ("", None):
                    row[key] = None
                elif key in NUMERIC:
                    row[key] = NUMERIC[key](cell)
                else:
                    try:
                        row[key] = float(cell)
                    except ValueError:
                        row[key] = cell
            rows.append(row)
    return rows
