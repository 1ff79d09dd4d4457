"""Times shap's KernelExplainer on the ONNX model and rows bench/kernel.bench.ts wrote.

Usage: python kernelshap_baseline.py <dir> <repeats>
<dir> holds model.onnx (a Keel model: one [N, 1] float32 input per raw column), x.f64 and
background.f64 (row-major float64), and shape.json (rows, background, inputs, samples). The
model is scored by onnxruntime, as the log-odds of its probability (the output space Keel's
KernelSHAP explains). Prints JSON: the milliseconds of shap_values alone per repeat, of those
the milliseconds spent inside the scorer (onnxruntime and the log-odds), the values of the
last run, and the values of an untimed run without feature selection (l1_reg=False).
"""
import json
import pathlib
import sys
import time

import numpy as np
import onnxruntime as ort
import shap

src = pathlib.Path(sys.argv[1])
repeats = int(sys.argv[2])
shape = json.loads((src / "shape.json").read_text())
names = shape["inputs"]
x = np.fromfile(src / "x.f64").reshape(shape["rows"], len(names))
background = np.fromfile(src / "background.f64").reshape(shape["background"], len(names))
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(str(src / "model.onnx"), options)
EDGE = 2.0 ** -24


scorer_seconds = 0.0


def margin(rows):
    global scorer_seconds
    start = time.perf_counter()
    feeds = {name: rows[:, [j]].astype(np.float32) for j, name in enumerate(names)}
    p = session.run(["probabilities"], feeds)[0][:, 1].astype(np.float64)
    p = np.clip(p, EDGE, 1 - EDGE)
    out = np.log(p / (1 - p))
    scorer_seconds += time.perf_counter() - start
    return out


explainer = shap.KernelExplainer(margin, background, link="identity")
explainer.shap_values(x[:1], nsamples=shape["samples"], silent=True)  # warm-up
ms = []
scorer_ms = []
values = None
for _ in range(repeats):
    scorer_seconds = 0.0
    start = time.perf_counter()
    values = explainer.shap_values(x, nsamples=shape["samples"], silent=True)
    ms.append((time.perf_counter() - start) * 1000)
    scorer_ms.append(scorer_seconds * 1000)
# Once more without shap's default feature selection (l1_reg="auto" picks features by AIC at
# this sample count): its error against the exact values is the sampling error alone.
unregularised = explainer.shap_values(x, nsamples=shape["samples"], silent=True, l1_reg=False)
print(
    json.dumps(
        {
            "ms": ms,
            "scorerMs": scorer_ms,
            "values": np.asarray(values).tolist(),
            "unregularised": np.asarray(unregularised).tolist(),
            "shap": shap.__version__,
        }
    )
)
