"""The parts of benchmarks/bench_deploy.py, the deployment latency benchmark.

    networks    the networks measured: forms, building, BatchNorm statistics,
                export to LiteRT / ONNX, a runner per runtime
    timing      round-robin timing of several models, and its summary
    operators   operator counts of the exported files, and ops.md
    latency     the latency job: every variant and form, one row per measurement
    op_profile  the operator-level profile job, and op_profile.md
    ablation    the ablation job (operators taken out), and ablation.md
    equality    the check job: trained weights on real images, Keras against
                LiteRT and ONNX Runtime
    csv_files   writing the CSV tables, reading latency.csv back
    figure      the latency-against-MACs figure drawn from latency.csv rows

Imports run networks, timing, operators <- latency; networks, timing <-
op_profile, ablation; networks <- equality.  networks, timing, operators,
csv_files and figure import no other part.  The command line
(benchmarks/bench_deploy.py) imports the parts; no part imports it.  Keras,
the runtimes and gpc_support are imported inside the functions that use
them, so importing a part imports no backend.
"""
