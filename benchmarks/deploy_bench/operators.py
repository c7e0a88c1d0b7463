"""Operator counts of the exported files (LiteRT and ONNX), and the ops.md table of them."""

from __future__ import annotations

from pathlib import Path


def op_count_rows(files, size, runtimes):
    from gpc_support.deploy import litert_op_counts, onnx_op_counts

    rows = []
    for (variant, form), entry in files.items():
        counts = {"LiteRT": litert_op_counts(entry["litert_bytes"])}
        if "onnx" in runtimes:
            counts["ONNX"] = onnx_op_counts(entry["onnx"])
        for fmt, counter in counts.items():
            for op, n in sorted(counter.items()):
                rows.append({"format": fmt, "variant": variant, "form": form, "image_size": size, "op": op, "count": n})
    return rows


def write_ops_markdown(path, op_rows, delegation, size):
    lines = [f"# Operators of the exported models ({size} px, batch 1)", "",
             "Counted in the files as written (LiteRT: before delegation; ONNX: before ONNX Runtime's own "
             "graph optimisations). `einsum` is the network as trained, `grouped` its deployment form.", ""]
    for fmt in ("LiteRT", "ONNX"):
        sel = [r for r in op_rows if r["format"] == fmt and r["image_size"] == size]
        if not sel:
            continue
        models = list(dict.fromkeys((r["variant"], r["form"]) for r in sel))
        ops = sorted({r["op"] for r in sel})
        table = {(r["variant"], r["form"], r["op"]): r["count"] for r in sel}
        lines += [f"## {fmt}", "", "| variant | form | total | " + " | ".join(ops) + " |",
                  "|---|---|---:|" + "---:|" * len(ops)]
        for variant, form in models:
            counts = [table.get((variant, form, op), 0) for op in ops]
            lines.append(f"| {variant} | {form} | {sum(counts)} | " + " | ".join(str(c) for c in counts) + " |")
        lines.append("")
    if delegation:
        lines += ["## XNNPACK partitions (LiteRT)", "",
                  "How many XNNPACK delegate nodes the interpreter made: 1 when XNNPACK takes the graph as one "
                  "piece; an operator XNNPACK cannot run (e.g. GATHER) splits the graph into several, with a "
                  "hand-over between XNNPACK and LiteRT's own kernels at every split.",
                  "", "| variant | form | partitions |", "|---|---|---:|"]
        for (key, s), nodes in delegation.items():
            if s == size:
                lines.append(f"| {key[0]} | {key[1]} | {nodes.get('DELEGATE', 0)} |")
        lines.append("")
    Path(path).write_text("\n".join(lines))
