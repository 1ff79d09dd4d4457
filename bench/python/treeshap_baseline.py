"""Times shap's C++ TreeExplainer on the trees and rows bench/explain.bench.ts wrote.

Usage: python treeshap_baseline.py <dir> <repeats>
<dir> holds model.json (Keel's trees: feature, threshold, missingLeft, left, right, value,
cover), x.f64 and background.f64 (row-major float64) and shape.json. The trees go to shap as
its custom-tree dict. Prints JSON: per mode the milliseconds of shap_values alone, and the
values' checksum, so the benchmark knows both sides explained the same thing.
"""
import json
import pathlib
import sys
import time

import numpy as np
import shap

src = pathlib.Path(sys.argv[1])
repeats = int(sys.argv[2])
shape = json.loads((src / "shape.json").read_text())
trees = json.loads((src / "model.json").read_text())
x = np.fromfile(src / "x.f64").reshape(shape["rows"], shape["features"])
background = np.fromfile(src / "background.f64").reshape(shape["background"], shape["features"])


def shap_tree(t):
    feature = np.array(t["feature"], dtype=np.int32)
    leaf = feature < 0
    left = np.where(leaf, -1, t["left"]).astype(np.int32)
    right = np.where(leaf, -1, t["right"]).astype(np.int32)
    return {
        "children_left": left,
        "children_right": right,
        "children_default": np.where(leaf, -1, np.where(np.array(t["missingLeft"]) == 1, left, right)).astype(np.int32),
        "features": np.where(leaf, -2, feature).astype(np.int32),
        "thresholds": np.array(t["threshold"], dtype=np.float64),
        "values": np.array(t["value"], dtype=np.float64).reshape(-1, 1),
        "node_sample_weight": np.array(t["cover"], dtype=np.float64),
    }


model = {"trees": [shap_tree(t) for t in trees["trees"]], "base_offset": trees["baseScore"],
         "tree_output": "raw_value", "input_dtype": np.float64, "internal_dtype": np.float64}


def timed(explainer):
    explainer.shap_values(x[:10])  # warm-up
    ms = []
    for _ in range(repeats):
        start = time.perf_counter()
        values = explainer.shap_values(x)
        ms.append((time.perf_counter() - start) * 1000)
    return {"ms": ms, "checksum": float(np.abs(values).sum())}


out = {
    "shap": shap.__version__,
    "pathDependent": timed(shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")),
    "interventional": timed(shap.TreeExplainer(model, data=background, feature_perturbation="interventional")),
}
print(json.dumps(out))
