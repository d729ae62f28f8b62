#!/usr/bin/python3
"""Two scored facet streams of the same faces, and what facet-compare must find (for tests).

  paired_fixture.py N SEED A B EXPECT [--shuffle] [--only-a K] [--only-b K] [--unscored-b K]

Writes N labelled records ("id" face_<i>, age, gender, ethnicity; the first 3 without ethnicity)
scored twice: model A a little better than model B on every head. --shuffle writes B in another
order; --only-a K adds K records to A alone, --only-b K to B alone; --unscored-b K takes the
"pred" off B's first K faces. EXPECT gets the paired figures NumPy and SciPy compute on the faces
scored in both (the independent reference): per measure a, b, diff, ci, p (and only_a, only_b
for accuracies), with facet-compare's methods: the exact McNemar test (scipy.stats.binomtest)
and the paired Wald interval for accuracies, the normal approximation of the mean paired
difference for MAE and log-losses. Runs under /usr/bin/python3 (Debian python3-msgpack,
python3-numpy, python3-scipy).
"""
import argparse
import json

import msgpack
import numpy as np
from scipy.stats import binomtest, norm

ap = argparse.ArgumentParser()
ap.add_argument("n", type=int)
ap.add_argument("seed", type=int)
ap.add_argument("a")
ap.add_argument("b")
ap.add_argument("expect")
ap.add_argument("--shuffle", action="store_true")
ap.add_argument("--only-a", type=int, default=0)
ap.add_argument("--only-b", type=int, default=0)
ap.add_argument("--unscored-b", type=int, default=0)
o = ap.parse_args()
rng = np.random.default_rng(o.seed)
n = o.n
age = rng.integers(1, 90, n)
gender = rng.integers(0, 2, n)
eth = rng.integers(0, 5, n)
known = np.arange(n) >= 3


def model(noise):
    """Predictions that are right more often the smaller noise is."""
    a = age + rng.normal(0, 6 * noise, n)
    g = 1 / (1 + np.exp(-((2 * gender - 1) * 2.5 + rng.normal(0, 2.5 * noise, n))))
    logits = rng.normal(0, 1.5 * noise, (n, 5))
    logits[np.arange(n), eth] += 1.8
    e = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return a, np.stack([1 - g, g], 1), e


pa, pb = model(1.0), model(1.3)


def record(i, p):
    r = {"id": f"face_{i}", "age": int(age[i]), "gender": int(gender[i])}
    if known[i]:
        r["ethnicity"] = int(eth[i])
    if p is not None:
        r["pred"] = {"age": float(p[0][i]), "gender": [float(x) for x in p[1][i]],
                     "ethnicity": [float(x) for x in p[2][i]]}
    return r


with open(o.a, "wb") as f:
    for i in range(n):
        f.write(msgpack.packb(record(i, pa)))
    for k in range(o.only_a):
        f.write(msgpack.packb({"id": f"only_a_{k}", "age": 30, "gender": 0, "ethnicity": 1,
                               "pred": {"age": 30.0, "gender": [0.5, 0.5],
                                        "ethnicity": [0.2] * 5}}))
order = rng.permutation(n) if o.shuffle else np.arange(n)
with open(o.b, "wb") as f:
    for k in range(o.only_b):
        f.write(msgpack.packb({"id": f"only_b_{k}", "age": 40, "gender": 1}))
    for i in order:
        f.write(msgpack.packb(record(i, None if i < o.unscored_b else pb)))

both = np.arange(n) >= o.unscored_b
z = norm.ppf(0.975)


def paired(xa, xb):
    d = xa - xb
    se = d.std(ddof=1) / np.sqrt(len(d))
    return {"faces": len(d), "a": xa.mean(), "b": xb.mean(), "diff": d.mean(),
            "ci": [d.mean() - z * se, d.mean() + z * se], "p": 2 * norm.sf(abs(d.mean() / se))}


def hits(ra, rb):
    b, c, m = int((ra & ~rb).sum()), int((rb & ~ra).sum()), len(ra)
    diff = (b - c) / m
    se = np.sqrt(b + c - (b - c) ** 2 / m) / m
    return {"faces": m, "a": ra.mean(), "b": rb.mean(), "diff": diff,
            "ci": [diff - z * se, diff + z * se], "p": binomtest(b, b + c).pvalue,
            "only_a": b, "only_b": c}


m, me = both, both & known
nll = lambda p: -np.log(np.maximum(p, 1e-12))
e = {"faces": int(m.sum()),
     "age_mae": paired(np.abs(pa[0] - age)[m], np.abs(pb[0] - age)[m]),
     "gender_accuracy": hits((pa[1].argmax(1) == gender)[m], (pb[1].argmax(1) == gender)[m]),
     "ethnicity_accuracy": hits((pa[2].argmax(1) == eth)[me], (pb[2].argmax(1) == eth)[me]),
     "gender_logloss": paired(nll(pa[1][np.arange(n), gender])[m],
                              nll(pb[1][np.arange(n), gender])[m]),
     "ethnicity_logloss": paired(nll(pa[2][np.arange(n), eth])[me],
                                 nll(pb[2][np.arange(n), eth])[me])}
with open(o.expect, "w") as f:
    json.dump(e, f, default=float)
