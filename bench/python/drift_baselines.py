"""Baselines for bench/drift.bench.ts, timed in the same run: numpy/scipy computing what Keel's
drift check computes, on the same synthetic data (rebuilt here from the same formulas).

Usage: drift_baselines.py ROWS NUMERIC CATEGORICAL KS_ROWS REPEATS  → JSON timings on stdout.
"""
import json
import sys
import time

import numpy as np
from scipy import stats
from scipy.spatial import distance

GOLDEN = 0.6180339887498949


def sequence(n, shift, phase):
    u = ((np.arange(n) + phase) * GOLDEN) % 1.0
    return shift + np.log(u / (1.0 - u))


rows, numeric, categorical, ks_rows, repeats = (int(a) for a in sys.argv[1:6])
base_rows = rows // 10
current = [sequence(rows, 0.02 * j, 0.5 + j / 1000) for j in range(numeric)]
baseline = [sequence(base_rows, 0.0, 0.25 + j / 1000) for j in range(numeric)]
codes = [((np.arange(rows) * (j + 3)) % 97 % 8).astype(np.int32) for j in range(categorical)]
base_codes = [((np.arange(base_rows) * (j + 5)) % 89 % 8).astype(np.int32) for j in range(categorical)]
edges = [np.unique(np.quantile(b, np.arange(1, 10) / 10)) for b in baseline]
base_counts = [np.bincount(np.searchsorted(e, b, side="left"), minlength=len(e) + 1) for e, b in zip(edges, baseline)]
base_cat = [np.bincount(c, minlength=8) for c in base_codes]


def psi(r, c, eps=1e-4):
    r = np.maximum(eps, r / r.sum())
    c = np.maximum(eps, c / c.sum())
    return float(np.sum((c - r) * np.log(c / r)))


def check():
    out = []
    for e, values, ref in zip(edges, current, base_counts):
        counts = np.bincount(np.searchsorted(e, values, side="left"), minlength=len(e) + 1)
        out.append((psi(ref, counts), distance.jensenshannon(ref, counts, base=2)))
    for c, ref in zip(codes, base_cat):
        counts = np.bincount(c, minlength=8)
        out.append((psi(ref, counts), distance.jensenshannon(ref, counts, base=2),
                    stats.chi2_contingency(np.array([ref, counts]), correction=False)[1]))
    return out


def timed(fn):
    ms = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - start) * 1000)
    return ms


a = sequence(ks_rows, 0.0, 0.5)
b = sequence(ks_rows, 0.01, 0.25)
print(json.dumps({
    "numpy": np.__version__,
    "scipy": __import__("scipy").__version__,
    "check": timed(check),
    "ks": timed(lambda: stats.ks_2samp(a, b)),
    "ksResult": [float(x) for x in stats.ks_2samp(a, b)[:2]],
}))
