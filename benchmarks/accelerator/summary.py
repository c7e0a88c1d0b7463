"""The text of summary.txt: the benchmark, the paper runs and the totals, or the authors' comparison."""

from __future__ import annotations


def authors_lines(variant: str, r: dict) -> list[str]:
    """The per-epoch comparison of one variant as text lines."""
    if "epochs" not in r:
        return [f"paper run {variant}: {r.get('status')}"]
    lines = [f"{variant}: paper profile, {r['train_images']:,} training images, "
             f"{r['image_size']} px, batch {r['batch']}, {r['optimizer']}, split {r['split']}",
             "  epoch   loss  authors   accuracy  authors   seconds"]
    for e in r["epochs"]:
        loss = "    -" if e["authors_loss"] is None else f"{e['authors_loss']:.3f}"
        acc = "    -" if e["authors_accuracy"] is None else f"{100 * e['authors_accuracy']:.1f}%"
        lines.append(f"  {e['epoch']:5d}  {e['loss']:.3f}  {loss:>7}   {100 * e['accuracy']:7.1f}%"
                     f"  {acc:>7}  {e['seconds']:8.1f}")
    return lines


def summary_text(summary: dict) -> str:
    """summary.txt from summary.json's dict: a line per benchmark model and paper run, the totals."""
    lines = [f"accelerator check: backend {summary['settings']['backend']}, "
             f"device {summary.get('device', {}).get('environment', {}).get('device')}"]
    if summary["settings"].get("mode") == "authors":
        lines.append("training loss and accuracy per epoch, ours beside the method authors' "
                     "logged values")
        for variant, r in summary.get("variants", {}).items():
            lines += authors_lines(variant, r)
        lines.append(f"check wall time: {summary['wall_seconds']:.0f} s")
        return "\n".join(lines) + "\n"
    bench = summary.get("bench") or {}
    for run in bench.get("runs", []):
        lines.append(f"bench {run['size']} px, batch {run['batch']}, {run['precision']}:")
        for name, m in run["models"].items():
            ratio = "" if m["train_ratio"] is None else \
                f"  ratio to MobileNet train {m['train_ratio']:.2f} infer {m['infer_ratio']:.2f}"
            lines.append(f"  {name:<10} train {1000 * m['train_s_per_batch']:8.1f} ms/batch  "
                         f"infer {1000 * m['infer_s_per_batch']:8.1f} ms/batch{ratio}")
    total = 0.0
    for variant, r in summary.get("variants", {}).items():
        if "ms_per_step" not in r:
            lines.append(f"paper run {variant}: {r.get('status')}")
            continue
        total += r["projected_full_run_hours"]
        peak = r.get("device_peak_bytes")
        lines.append(
            f"paper run {variant}: {r['ms_per_step']:.1f} ms/step, {r['images_per_second']:.3g} img/s, "
            f"peak {'n/a' if peak is None else f'{peak / 2**30:.2f} GiB'}, loss "
            f"{r['losses'][0]:.3f} -> {r['losses'][-1]:.3f} ({'falls' if r['loss_fell'] else 'does NOT fall'}), "
            f"full 50-epoch run ~{r['projected_full_run_hours']:.2f} h")
    base = summary.get("variants", {}).get("mobilenet", {}).get("ms_per_step")
    if base:
        ratios = ", ".join(f"{v} {r['ms_per_step'] / base:.2f}"
                           for v, r in summary["variants"].items() if "ms_per_step" in r)
        lines.append(f"paper-run training step relative to MobileNet: {ratios}")
    if summary.get("variants"):
        lines.append(f"projected paper profile, these variants together: {total:.2f} h")
    lines.append(f"check wall time: {summary['wall_seconds']:.0f} s")
    return "\n".join(lines) + "\n"
