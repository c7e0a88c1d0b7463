"""The check job: trained weights on real test images, Keras against LiteRT and ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .networks import BASELINE, build_variant


def read_test_images(data_dir, count):
    """`count` test images (the same number from every class, files in name order),
    as float32 in [0, 1], and their class indices."""
    from PIL import Image

    test = Path(data_dir) / "test"
    if not test.is_dir():
        raise SystemExit(f"--data-dir: {data_dir} has no test/ folder of class folders")
    classes = sorted(p.name for p in test.iterdir() if p.is_dir())
    if not classes:
        raise SystemExit(f"--data-dir: {test} has no class folders")
    per_class = -(-count // len(classes))
    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(f for f in (test / name).iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        for f in files[:per_class]:
            with Image.open(f) as img:
                images.append(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0)
            labels.append(label)
    return np.stack(images)[:count], np.asarray(labels)[:count]


def check_job(args, workdir, env):
    import keras
    from gpc_support.deploy import LiteRTRunner, OnnxRunner, deployment_model, litert_to_onnx, to_litert

    images, labels = read_test_images(args.data_dir, args.check_images)
    rows = []
    for variant in args.variants:
        weights = Path(args.check_runs) / variant / "best.weights.h5"
        if not weights.is_file():
            print(f"  check: no {weights}, {variant} skipped", flush=True)
            continue
        for size in args.check_sizes:
            x = images if size == images.shape[1] else np.asarray(
                keras.ops.image.resize(images, (size, size), interpolation="bilinear"))
            model = build_variant(variant, size)
            model.load_weights(weights)
            reference = model.predict(x, batch_size=50, verbose=0)
            forms = ["einsum", "grouped"] if variant != BASELINE else ["baseline"]
            for form in forms:
                net = model if form in ("einsum", "baseline") else deployment_model(model)
                keras_out = net.predict(x, batch_size=50, verbose=0)
                stem = Path(workdir) / f"check_{variant}_{form}_{size}"
                fb = to_litert(net, stem.with_suffix(".tflite"))
                outputs = {"Keras deployment form": keras_out}
                lite = LiteRTRunner(fb, 1)
                outputs["LiteRT+XNNPACK"] = np.concatenate([lite(x[i:i + 1]) for i in range(len(x))])
                onnx = OnnxRunner(litert_to_onnx(stem.with_suffix(".tflite"), stem.with_suffix(".onnx")), 1)
                outputs["ONNX Runtime"] = np.concatenate([onnx(x[i:i + 1]) for i in range(len(x))])
                for target, out in outputs.items():
                    if form in ("einsum", "baseline") and target == "Keras deployment form":
                        continue
                    diff = np.abs(out - reference)
                    # Logits up to a constant per image: log-probabilities minus their mean
                    # (differences the saturated softmax of an upscaled image would hide).
                    logp = np.log(np.maximum(out, 1e-30)) - np.log(np.maximum(reference, 1e-30))
                    logit_diff = np.abs(logp - logp.mean(axis=1, keepdims=True))
                    rows.append({
                        "variant": variant, "form": form, "image_size": size, "compared": f"Keras (trained) vs {target}",
                        "images": len(x), "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
                        "max_abs_logit_diff": float(logit_diff.max()),
                        "argmax_agreement": float(np.mean(out.argmax(1) == reference.argmax(1))),
                        "keras_accuracy": float(np.mean(reference.argmax(1) == labels)),
                        "keras_mean_top_probability": float(reference.max(1).mean()),
                    })
                    r = rows[-1]
                    print(f"  {variant:>9} {form:<8} {size:>3} px vs {target:<22} max|diff| {r['max_abs_diff']:.2e} "
                          f"logits {r['max_abs_logit_diff']:.1e} "
                          f"argmax agree {r['argmax_agreement']:.3f} (Keras acc {r['keras_accuracy']:.3f}, "
                          f"mean top p {r['keras_mean_top_probability']:.3f})", flush=True)
    return rows
