#!/usr/bin/python3
"""Write a labelled (and optionally scored) facet stream for facet-eda and facet-report tests.

  faces_fixture.py N SEED [--size HxWxC] [--no-labels] [--pred] [--dups K] [--missing K]
                       [--no-images] [--expect FILE] [--expect-eda FILE]

Records are "face_<i>.jpg" with a synthetic uint8 image (a bright disc on a ramp: each image
differs), age 1..99, gender 0/1, ethnicity 0..4 drawn from SEED. --missing K drops the ethnicity
of the first K records (with a "label_error" as facet-label writes it); --dups K makes the last
K images copies of the first K. --pred adds a "pred" map with noisy predictions; --expect FILE
writes the metrics scikit-learn computes on them as JSON (the independent reference), with
the 95 % confidence intervals SciPy computes when it is installed (keys ending in _ci);
--expect-eda FILE the label and image statistics numpy computes. Runs under
/usr/bin/python3 (Debian python3-msgpack, python3-msgpack-numpy, python3-numpy, python3-sklearn,
python3-scipy).
"""
import argparse
import json
import sys

import msgpack
import msgpack_numpy
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("n", type=int)
ap.add_argument("seed", type=int)
ap.add_argument("--size", default="24x24x1")
ap.add_argument("--no-labels", action="store_true")
ap.add_argument("--no-images", action="store_true")
ap.add_argument("--pred", action="store_true")
ap.add_argument("--dups", type=int, default=0)
ap.add_argument("--missing", type=int, default=0)
ap.add_argument("--expect")
ap.add_argument("--expect-eda")
a = ap.parse_args()
h, w, c = (int(x) for x in a.size.split("x"))
rng = np.random.default_rng(a.seed)

ages = rng.integers(1, 100, a.n)
genders = rng.integers(0, 2, a.n)
eths = rng.choice(5, a.n, p=[0.45, 0.2, 0.15, 0.15, 0.05])
images = []
yy, xx = np.mgrid[0:h, 0:w]
for i in range(a.n):
    base = (xx * 255 // max(w - 1, 1)).astype(np.float64) * 0.3 + 40 + 3 * eths[i]
    cy, cx = rng.integers(h // 4, 3 * h // 4 + 1), rng.integers(w // 4, 3 * w // 4 + 1)
    disc = ((yy - cy) ** 2 + (xx - cx) ** 2) < (min(h, w) // 3) ** 2
    img = base + disc * (100 + ages[i])
    img = np.clip(img + rng.integers(0, 8, (h, w)), 0, 255).astype(np.uint8)
    images.append(np.repeat(img[:, :, None], c, axis=2))
for k in range(a.dups):
    images[a.n - 1 - k] = images[k].copy()

# Predictions: age with an error, class probabilities that are right most of the time.
pred_age = np.round(ages + rng.normal(0, 6, a.n), 2)
p_female = np.round(np.clip(genders * 0.3 + rng.uniform(0, 0.7, a.n), 0, 1), 2)
eth_probs = rng.dirichlet(np.ones(5), a.n)
right = rng.uniform(0, 1, a.n) < 0.7
eth_probs[right] = eth_probs[right] * 0.3
eth_probs[right, eths[right]] += 0.7
eth_probs = np.round(eth_probs / eth_probs.sum(axis=1, keepdims=True), 4)
eth_probs = eth_probs / eth_probs.sum(axis=1, keepdims=True)

out = sys.stdout.buffer
for i in range(a.n):
    r = {"id": "face_%d.jpg" % i}
    if not a.no_images:
        r["image"] = images[i]
    if not a.no_labels:
        r["age"] = int(ages[i])
        r["gender"] = int(genders[i])
        if i >= a.missing:
            r["ethnicity"] = int(eths[i])
        else:
            r["label_error"] = "name has 3 fields, not 4: no ethnicity"
    r["split"] = "test"
    if a.pred:
        r["pred"] = {"age": float(pred_age[i]),
                     "gender": [float(1 - p_female[i]), float(p_female[i])],
                     "ethnicity": [float(x) for x in eth_probs[i]]}
    out.write(msgpack.packb(r, default=msgpack_numpy.encode))

if a.expect:
    from sklearn.metrics import (accuracy_score, confusion_matrix, mean_absolute_error,
                                 mean_squared_error, precision_recall_fscore_support,
                                 roc_auc_score)
    e = {}
    known = np.arange(a.n) >= a.missing
    e["age_mae"] = mean_absolute_error(ages, pred_age)
    e["age_mse"] = mean_squared_error(ages, pred_age)
    e["age_rmse"] = float(np.sqrt(e["age_mse"]))
    g_pred = np.argmax(np.stack([1 - p_female, p_female], 1), 1)
    e["gender_accuracy"] = accuracy_score(genders, g_pred)
    e["gender_confusion"] = confusion_matrix(genders, g_pred, labels=[0, 1]).tolist()
    p, r_, f, s = precision_recall_fscore_support(genders, g_pred, labels=[0, 1], zero_division=0)
    e["gender_precision"], e["gender_recall"], e["gender_f1"] = p.tolist(), r_.tolist(), f.tolist()
    e["gender_auc"] = roc_auc_score(genders, p_female)
    et, ep = eths[known], np.argmax(eth_probs[known], 1)
    e["ethnicity_accuracy"] = accuracy_score(et, ep)
    e["ethnicity_confusion"] = confusion_matrix(et, ep, labels=[0, 1, 2, 3, 4]).tolist()
    p, r_, f, s = precision_recall_fscore_support(et, ep, labels=[0, 1, 2, 3, 4], zero_division=0)
    e["ethnicity_precision"], e["ethnicity_recall"], e["ethnicity_f1"] = p.tolist(), r_.tolist(), f.tolist()
    mp, mr, mf, _ = precision_recall_fscore_support(et, ep, average="macro", zero_division=0)
    e["ethnicity_macro"] = [mp, mr, mf]
    band = np.minimum(ages // 10, 8)
    e["age_mae_by_band"] = [mean_absolute_error(ages[band == b], pred_age[band == b])
                            if (band == b).any() else None for b in range(9)]

    gnames, enames = ["male", "female"], ["White", "Black", "Asian", "Indian", "Other"]
    slices = {}
    for g in range(2):
        for k in range(5):
            m = (genders == g) & (eths == k) & known
            if m.any():
                slices["%s %s" % (gnames[g], enames[k])] = {
                    "age_mae": mean_absolute_error(ages[m], pred_age[m]),
                    "gender_accuracy": accuracy_score(genders[m], g_pred[m]),
                    "ethnicity_accuracy": accuracy_score(eths[m], np.argmax(eth_probs[m], 1))}
    for b in range(9):
        m = band == b
        if m.any():
            slices["age " + ["0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69",
                             "70-79", "80+"][b]] = {
                "age_mae": mean_absolute_error(ages[m], pred_age[m]),
                "gender_accuracy": accuracy_score(genders[m], g_pred[m]),
                "gender_auc": (roc_auc_score(genders[m], p_female[m])
                               if len(set(genders[m])) == 2 else None)}
    e["slices"] = slices

    # 95 % intervals: Wilson score for proportions (scipy's binomtest), mean |error| -+ z * its
    # standard error for the MAE (lower end clamped at 0). None where there is no interval.
    try:
        from scipy.stats import binomtest, norm, sem
    except ImportError:
        binomtest = None
    if binomtest:
        z = norm.ppf(0.975)

        def wilson(k, n):
            if n == 0:
                return None
            ci = binomtest(int(k), int(n)).proportion_ci(0.95, "wilson")
            return [float(ci.low), float(ci.high)]

        def mae_ci(actual, pred):
            err = np.abs(pred - actual)
            if len(err) < 2:
                return None
            m, h = err.mean(), z * sem(err)
            return [float(max(0, m - h)), float(m + h)]

        def right(t, p):
            return int((t == p).sum()), len(t)

        e["age_mae_ci"] = mae_ci(ages, pred_age)
        e["gender_accuracy_ci"] = wilson(*right(genders, g_pred))
        e["ethnicity_accuracy_ci"] = wilson(*right(et, ep))
        for name, t, p, k in (("gender", genders, g_pred, 2), ("ethnicity", et, ep, 5)):
            e[name + "_recall_ci"] = [wilson(((t == c) & (p == c)).sum(), (t == c).sum())
                                      for c in range(k)]
            e[name + "_precision_ci"] = [wilson(((t == c) & (p == c)).sum(), (p == c).sum())
                                         for c in range(k)]
        for g in range(2):
            for k in range(5):
                m = (genders == g) & (eths == k) & known
                if m.any():
                    x = slices["%s %s" % (gnames[g], enames[k])]
                    x["age_mae_ci"] = mae_ci(ages[m], pred_age[m])
                    x["gender_accuracy_ci"] = wilson(*right(genders[m], g_pred[m]))
                    x["ethnicity_accuracy_ci"] = wilson(
                        *right(eths[m], np.argmax(eth_probs[m], 1)))
        e["age_mae_by_band_ci"] = [mae_ci(ages[band == b], pred_age[band == b])
                                   for b in range(9)]

    with open(a.expect, "w") as fh:
        json.dump(e, fh, indent=1)

if a.expect_eda:
    known = np.arange(a.n) >= a.missing
    x = {"records": a.n, "age_min": int(ages.min()), "age_max": int(ages.max()),
         "age_mean": float(ages.mean()),
         "age_quartiles": [float(q) for q in np.percentile(ages, [25, 50, 75])],
         "gender": [int((genders == g).sum()) for g in range(2)],
         "ethnicity": [int((eths[known] == k).sum()) for k in range(5)]}
    # Pearson r of age and female over all records; of age and White over the known ethnicity.
    x["corr_age_female"] = float(np.corrcoef(ages, genders)[0, 1])
    x["corr_age_white"] = float(np.corrcoef(ages[known], (eths[known] == 0))[0, 1])
    def luma(im):
        im = im.astype(np.float64)
        return im.mean() if im.shape[2] == 1 else (0.299 * im[:, :, 0] + 0.587 * im[:, :, 1] + 0.114 * im[:, :, 2]).mean()
    bright = np.array([luma(im) for im in images])
    x["brightness_mean"] = float(bright.mean())
    x["brightness_female"] = float(bright[genders == 1].mean())
    with open(a.expect_eda, "w") as fh:
        json.dump(x, fh, indent=1)
