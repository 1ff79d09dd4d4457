"""Times LightGBM and scikit-learn on the matrix bench/training.bench.ts wrote.

Usage: python train_baselines.py <dir> <repeats>
<dir> holds x.f64 (row-major float64), y.f64 and shape.json; prints JSON with per-run
seconds, timed around fit() only (dataset construction included, as in Keel's fit).
"""
import json
import pathlib
import sys
import time

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

src = pathlib.Path(sys.argv[1])
repeats = int(sys.argv[2])
shape = json.loads((src / "shape.json").read_text())
X = np.fromfile(src / "x.f64", dtype=np.float64).reshape(shape["rows"], shape["cols"])
y = np.fromfile(src / "y.f64", dtype=np.float64).astype(int)
g = shape["gbdt"]


def timed(fit):
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        model = fit()
        out.append((time.perf_counter() - start) * 1000)
    return out, model


lgb_ms, lgb_model = timed(lambda: lgb.LGBMClassifier(
    n_estimators=g["trees"], max_depth=g["maxDepth"], num_leaves=g["maxLeaves"], learning_rate=g["learningRate"],
    min_child_samples=20, min_child_weight=1e-3, reg_lambda=0, max_bin=255, n_jobs=g["threads"], verbose=-1,
).fit(X, y))
lr_ms, lr_model = timed(lambda: LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000).fit(X, y))
# Keel's training is one thread, as LightGBM is run here: the same fit with BLAS on one thread.
with threadpool_limits(limits=1):
    lr1_ms, _ = timed(lambda: LogisticRegression(C=1.0, solver="lbfgs", max_iter=1000).fit(X, y))
print(json.dumps({
    "lightgbm": {"ms": lgb_ms, "version": lgb.__version__, "trainAuc": None},
    "sklearnLogistic": {"ms": lr_ms, "iterations": int(lr_model.n_iter_[0])},
    "sklearnLogistic1": {"ms": lr1_ms},
}))
