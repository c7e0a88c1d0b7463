"""Did the 15-epoch answers survive convergence?  The same claims in two results folders.

The `cpu` profile stops after 15 epochs, mostly while still learning; the
`paper32` profile trains the report's protocol for 50 epochs at the same
32 px.  This module puts the two side by side:

- `ordering(results)`: the networks of `CONVERGENCE_VARIANTS` ranked by
  mean test accuracy over their complete runs;
- `claim_tests(results)`: each claim of `CLAIMS` ("b - a", a pair of
  networks) tested as the summary tests every difference: paired over shared
  seeds and test images, the seed variance pooled over the claims, Holm
  within them (`estimators.family_tests`);
- `convergence_table(short, converged)`: one row per claim tested in both
  folders: the difference, interval and verdict in each, and the `outcome`
  (`OUTCOMES`): whether the claim survived (with one converged seed, only
  whether the sign did: nothing is tested without the seeds' spread);
- `orderings(short, converged)`: both orderings in one table;
- `convergence_section(orders, table)`: the section summary.md, the summary
  notebook and the README show, from those two tables (the README renders it
  from the CSVs the summary writes); `convergence_markdown(...)` the same
  from two folders' results; `counterpart_dir(results_dir)` finds the
  15-epoch folder beside a converged one.

Nothing here imports Keras.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .estimators import ALPHA, FAMILY_COLUMNS, HOLDS, family_tests
from .results import outcomes_by_seed, short_name
from .tables import format_markdown

__all__ = ["SHORT_PROFILE", "CONVERGED_PROFILE", "CONVERGENCE_VARIANTS", "CLAIMS", "OUTCOMES",
           "UNTESTED_NOTE", "ordering", "orderings", "claim_tests", "outcome_of",
           "converged_tested", "convergence_table", "convergence_section",
           "convergence_markdown", "counterpart_dir"]

SHORT_PROFILE, CONVERGED_PROFILE = "cpu", "paper32"
# the networks paper32 trains: the report's baseline, the same with swish, three
# group sizes, and the thinner MobileNet-swish nearest the gpc networks' budget
CONVERGENCE_VARIANTS = ("mobilenet", "mobilenet-swish", "mobilenet-swish-a0.5",
                        "gpc16", "gpc32", "gpc128")
# (a, b): the claim is about b - a
CLAIMS = (
    ("mobilenet", "mobilenet-swish"),
    ("mobilenet", "gpc16"), ("mobilenet", "gpc32"), ("mobilenet", "gpc128"),
    ("mobilenet-swish", "gpc16"), ("mobilenet-swish", "gpc32"), ("mobilenet-swish", "gpc128"),
    ("mobilenet-swish-a0.5", "gpc16"), ("mobilenet-swish-a0.5", "gpc32"),
    ("mobilenet-swish-a0.5", "gpc128"),
    ("gpc16", "gpc32"), ("gpc32", "gpc128"),
)
# what became of a claim between 15 epochs and convergence
OUTCOMES = {
    "survived": "holds in both, same direction",
    "reversed": "holds in both, opposite directions",
    "weakened": "held at 15 epochs, not resolved at convergence",
    "emerged": "not resolved at 15 epochs, holds at convergence",
    "open": "not resolved in either",
    # one seed at convergence: no interval that carries seed-to-seed variation,
    # so nothing can hold or fail there; only the sign can be compared
    "same sign, untested": "one seed at convergence, its difference has the 15-epoch sign",
    "opposite sign, untested": "one seed at convergence, its difference has the opposite sign",
}
UNTESTED_NOTE = ("With one seed at convergence no claim can be tested there (the seeds' "
                 "spread is unknown): an *untested* outcome says only whether that seed's "
                 "difference has the 15-epoch sign.")


def _mean_accuracy(runs) -> tuple[float, int]:
    acc = [100 * r.metrics["test_accuracy"] for r in runs if r.status == "complete"]
    return (float(np.mean(acc)), len(acc)) if acc else (np.nan, 0)


def ordering(results: dict, variants=CONVERGENCE_VARIANTS) -> pd.DataFrame:
    """The networks of `variants` with a complete run, best first: rank,
    variant, mean test %, seeds."""
    rows = []
    for variant in variants:
        mean, seeds = _mean_accuracy(results.get(variant, []))
        if seeds:
            rows.append({"variant": variant, "mean test %": mean, "seeds": seeds})
    df = pd.DataFrame(rows, columns=["variant", "mean test %", "seeds"])
    df = df.sort_values("mean test %", ascending=False, kind="stable").reset_index(drop=True)
    df.insert(0, "rank", range(1, len(df) + 1))
    return df


def claim_tests(results: dict, claims=CLAIMS, alpha: float = ALPHA) -> pd.DataFrame:
    """One row per claim whose two networks share a seed with complete runs on
    the same test images: a, b, claim ("gpc16 - MobileNet"), seeds, mean diff
    pp (b - a, mean over seeds), and `FAMILY_COLUMNS` (all claims one family)."""
    outcomes = {v: outcomes_by_seed(results.get(v, [])) for v in {v for c in claims for v in c}}
    rows, family = [], []
    for a, b in claims:
        oa, ob = outcomes[a], outcomes[b]
        seeds = [s for s in sorted(set(oa) & set(ob)) if np.array_equal(oa[s][0], ob[s][0])]
        if not seeds or len({len(oa[s][1]) for s in seeds}) != 1:
            continue
        diff = (np.array([ob[s][1] for s in seeds], dtype=np.float64)
                - np.array([oa[s][1] for s in seeds], dtype=np.float64))
        rows.append({"a": a, "b": b, "claim": f"{short_name(b)} - {short_name(a)}",
                     "seeds": len(seeds), "mean diff pp": 100 * float(diff.mean())})
        family.append(((a, b), diff))
    for row, test in zip(rows, family_tests(family, alpha)):
        row.update({k: test[k] for k in FAMILY_COLUMNS})
    return pd.DataFrame(rows, columns=["a", "b", "claim", "seeds", "mean diff pp", *FAMILY_COLUMNS])


def outcome_of(short_verdict: str, short_pp: float, converged_verdict: str,
               converged_pp: float, converged_tested: bool = True) -> str:
    """The key of `OUTCOMES` that two verdicts and differences make.

    `converged_tested`: whether the converged difference has an interval that
    carries seed-to-seed variation (False with one seed and no other claim of
    the family to pool the seed variance from): if not, only the signs count."""
    if not converged_tested:
        same = np.sign(short_pp) == np.sign(converged_pp)
        return "same sign, untested" if same else "opposite sign, untested"
    held, holds = short_verdict == HOLDS, converged_verdict == HOLDS
    if held and holds:
        return "survived" if np.sign(short_pp) == np.sign(converged_pp) else "reversed"
    return "weakened" if held else "emerged" if holds else "open"


def convergence_table(short: dict, converged: dict, claims=CLAIMS) -> pd.DataFrame:
    """One row per claim tested in both folders: claim, a, b, the difference
    (pp), interval and verdict at 15 epochs and at convergence, and outcome
    (a key of `OUTCOMES`)."""
    s, c = claim_tests(short, claims), claim_tests(converged, claims)
    rows = []
    for _, rs in s.iterrows():
        match = c[(c["a"] == rs["a"]) & (c["b"] == rs["b"])]
        if match.empty:
            continue
        rc = match.iloc[0]
        rows.append({"claim": rs["claim"], "a": rs["a"], "b": rs["b"],
                     "15 epochs pp": rs["mean diff pp"], "15 epochs seeds": rs["seeds"],
                     "15 epochs low pp": rs["seed_ci_low pp"], "15 epochs high pp": rs["seed_ci_high pp"],
                     "15 epochs verdict": rs["verdict"],
                     "converged pp": rc["mean diff pp"], "converged seeds": rc["seeds"],
                     "converged low pp": rc["seed_ci_low pp"], "converged high pp": rc["seed_ci_high pp"],
                     "converged verdict": rc["verdict"],
                     "outcome": outcome_of(rs["verdict"], rs["mean diff pp"],
                                           rc["verdict"], rc["mean diff pp"],
                                           converged_tested(rc["seed_ci_low pp"]))})
    return pd.DataFrame(rows, columns=[
        "claim", "a", "b", "15 epochs pp", "15 epochs seeds", "15 epochs low pp",
        "15 epochs high pp", "15 epochs verdict", "converged pp", "converged seeds",
        "converged low pp", "converged high pp", "converged verdict", "outcome"])


def converged_tested(low_pp) -> bool:
    """Whether a converged difference was tested: it has an interval (its lower
    end, as convergence.csv's "converged low pp" holds it, is a number)."""
    return not pd.isna(low_pp)


def _ordering_line(df: pd.DataFrame) -> str:
    return " > ".join(f"{short_name(r['variant'])} {r['mean test %']:.2f}%"
                      for _, r in df.iterrows()) or "no complete run"


def _verdict_cell(mean, seeds, verdict) -> str:
    return f"{mean:+.2f} ({verdict}{', one seed' if seeds == 1 else ''})"


def orderings(short: dict, converged: dict) -> pd.DataFrame:
    """Both folders' orderings in one table (what summary/convergence_ordering.csv
    holds): profile, rank, variant, mean test %, seeds."""
    parts = [ordering(results).assign(profile=name)
             for name, results in ((SHORT_PROFILE, short), (CONVERGED_PROFILE, converged))]
    df = pd.concat(parts, ignore_index=True)
    return df[["profile", "rank", "variant", "mean test %", "seeds"]]


def convergence_section(orders: pd.DataFrame, table: pd.DataFrame) -> str:
    """The side-by-side text from the two tables the summary writes
    (`orderings`, `convergence_table`): both orderings, one row per claim with
    its outcome, the outcomes counted.  The summary and the README both show it."""
    def line(profile):
        mine = orders[orders["profile"] == profile].sort_values("rank")
        return _ordering_line(mine)

    lines = [f"- 15 epochs (`{SHORT_PROFILE}`): {line(SHORT_PROFILE)}",
             f"- converged (`{CONVERGED_PROFILE}`, 50 epochs): {line(CONVERGED_PROFILE)}",
             ""]
    if table.empty:
        lines.append("No claim has complete runs of both its networks in both folders yet.")
        return "\n".join(lines)
    shown = pd.DataFrame({
        "claim": table["claim"],
        "15 epochs pp": [_verdict_cell(r["15 epochs pp"], r["15 epochs seeds"], r["15 epochs verdict"])
                         for _, r in table.iterrows()],
        "converged pp": [_verdict_cell(r["converged pp"], r["converged seeds"], r["converged verdict"])
                         for _, r in table.iterrows()],
        "outcome": [f"{r['outcome']}: {OUTCOMES[r['outcome']]}" for _, r in table.iterrows()],
    })
    lines.append(format_markdown(shown, list(shown.columns)))
    counts = table["outcome"].value_counts()
    lines += ["", f"Of {len(table)} claim{'s' if len(table) > 1 else ''}: " + ", ".join(
        f"{int(counts[k])} {k}" for k in OUTCOMES if k in counts) + "."]
    if table["outcome"].str.endswith("untested").any():
        lines += ["", UNTESTED_NOTE]
    return "\n".join(lines)


def convergence_markdown(short: dict, converged: dict, table: pd.DataFrame | None = None) -> str:
    """`convergence_section` of two folders' results."""
    table = convergence_table(short, converged) if table is None else table
    return convergence_section(orderings(short, converged), table)


def counterpart_dir(results_dir) -> Path | None:
    """For a folder of `paper32` runs (results/paper32), the folder of 15-epoch
    `cpu` runs beside it (results/cpu) when it holds runs; else None."""
    folder = Path(results_dir)
    if folder.name != CONVERGED_PROFILE:
        return None
    other = folder.parent / SHORT_PROFILE
    return other if (other / "runs").is_dir() else None

