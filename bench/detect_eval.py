#!/usr/bin/python3
"""detect_eval: how well a face detector's stream finds, marks and crops the faces of the scenes
bench/detect_scenes.py made, and what its crops cost the age/gender/ethnicity model.

    /usr/bin/python3 bench/detect_eval.py --truth DIR/truth.jsonl --detected D.facet \\
        [--scored-detect A.facet --scored-crops B.facet] [--json]

D.facet is facet-detect's output on DIR/scenes (records id "SCENE#K", box [x0, y0, x1, y1],
score, landmarks float32 [68, 2], image uint8 [N, N, 3]; see facet-stream(5)).

Matching: within a scene, detections are taken in order of falling score; each one takes, among
the truth faces not yet taken, the one whose centre is nearest its box's centre, provided that
distance is at most 0.3 * side (side: the pasted crop's side) and the box's side (sqrt of its
width times its height) is within 0.5 .. 2 times side (--centre-tol, --size-range). A
detection that takes no face is extra. A truth face with a detection close enough by centre
but not by size is counted as a near miss, a hint that the boxes' scale differs from the
crops'.

Printed: scenes, truth faces, faces found (count, %), extra detections (count, % of truth
faces), the found rate by |angle| band (0-5, 5-10, 10-15 degrees) and by side band (110-160,
160-220, 220-300 pixels), two-face scenes with both faces found, empty scenes with any
detection; on the matched faces, the box's side and centre offset against the truth, the
landmarks' eye line against the truth turn (UTKFace crops have level eyes, so the line from the
centre of points 36-41 to that of points 42-47 should be turned by the face's angle) and the eye
distance over side, and how closely the record's image matches the original crop (Pearson
correlation of the two, grey, at 64x64, centre 48x48). Every record is checked against the
stream contract; problems are counted and the first few shown.

With --scored-detect (facet-score's output on D.facet) and --scored-crops (facet-score's output
on the original crops, from facet-decode: ids are the crops' file names), on the faces found
and scored both ways: age MAE, gender and ethnicity accuracy of the detected crops and of the
original crops, their difference (detected - original) with a 95 % interval from the paired
per-face differences (normal approximation), and how often the two predictions agree. Labels
come from the truth faces' UTKFace names AGE_GENDER_RACE_...; a name without a race field gives
no ethnicity (never guessed).

--json prints one JSON object with every figure instead of the table. Exit status: 0 ok, 1 an
input cannot be read, 2 usage error.
"""
import argparse
import json
import math
import os
import re
import signal
import sys

import msgpack
import msgpack_numpy
import numpy as np

ANGLE_BANDS = [(0, 5), (5, 10), (10, 15)]
SIDE_BANDS = [(110, 160), (160, 220), (220, 300)]
GENDERS = 2
ETHNICITIES = 5
EXAMPLES = 5  # contract problems shown


def die(msg):
    print(f"detect_eval.py: {msg}", file=sys.stderr)
    sys.exit(1)


def read_stream(path):
    try:
        with open(path, "rb") as f:
            yield from msgpack.Unpacker(f, raw=False, object_hook=msgpack_numpy.decode,
                                        max_buffer_size=256 << 20)
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")
    except (ValueError, msgpack.UnpackException) as e:
        die(f"{path} is not a facet stream: {e}")


def read_truth(path):
    scenes = []
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        scenes.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        die(f"{path}:{n}: {e}")
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")
    return scenes


def utk_labels(name):
    """(age, gender, ethnicity) from a UTKFace name, None for each field it does not give."""
    f = os.path.basename(name).split("_", 3)
    def field(i, lo, hi):
        if i < len(f) and re.fullmatch(r"\d{1,3}", f[i]) and lo <= int(f[i]) <= hi:
            return int(f[i])
        return None
    # a name without the race field has the timestamp third: never read it as a race
    eth = field(2, 0, ETHNICITIES - 1) if len(f) == 4 else None
    return field(0, 0, 130), field(1, 0, 1), eth


def band_of(v, bands):
    for i, (lo, hi) in enumerate(bands):
        if lo <= v < hi or (i == len(bands) - 1 and v == hi):
            return i
    return None


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class Contract:
    """Counts of records that break facet-detect's stream contract, with a few examples."""

    def __init__(self):
        self.problems = {}
        self.examples = []
        self.records = 0

    def bad(self, rid, what):
        self.problems[what] = self.problems.get(what, 0) + 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(f"{rid}: {what}")


def check_record(rec, contract, scene_names, image_sizes):
    """The detection (scene, box, score, landmarks, image) of a record, or None if unusable."""
    contract.records += 1
    if not isinstance(rec, dict):
        contract.bad("?", "record is not a map")
        return None
    rid = rec.get("id")
    if not isinstance(rid, str) or "#" not in rid:
        contract.bad(repr(rid), "id is not a string SOURCE#K")
        return None
    src, k = rid.rsplit("#", 1)
    if not re.fullmatch(r"0|[1-9]\d*", k):
        contract.bad(rid, "face index K is not a number from 0")
    scene = scene_names.get(src)
    if scene is None:
        contract.bad(rid, "SOURCE is no scene of the truth")
        return None
    box = rec.get("box")
    if not (isinstance(box, (list, tuple)) and len(box) == 4 and all(is_num(v) for v in box)):
        contract.bad(rid, "box is not 4 finite numbers")
        return None
    if not (box[0] < box[2] and box[1] < box[3]):
        contract.bad(rid, "box has x1 <= x0 or y1 <= y0")
        return None
    score = rec.get("score")
    if not is_num(score):
        contract.bad(rid, "score is not a finite number")
        score = float("-inf")
    lm = rec.get("landmarks")
    if not (isinstance(lm, np.ndarray) and lm.dtype == np.float32 and lm.shape == (68, 2)):
        contract.bad(rid, "landmarks is not a float32 [68, 2] tensor")
        lm = None
    elif not np.isfinite(lm).all():
        contract.bad(rid, "landmarks are not finite")
        lm = None
    img = rec.get("image")
    if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and
            img.shape[0] == img.shape[1] and img.shape[2] == 3):
        contract.bad(rid, "image is not a uint8 [N, N, 3] tensor")
        img = None
    else:
        image_sizes[img.shape[0]] = image_sizes.get(img.shape[0], 0) + 1
    return {"id": rid, "scene": scene, "k": k, "box": [float(v) for v in box],
            "score": float(score), "landmarks": lm, "image": img}


def box_geometry(box):
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2, (y0 + y1) / 2, math.sqrt((x1 - x0) * (y1 - y0))


def match_scene(faces, dets, tol, lo, hi):
    """Greedy matching by score. Returns (pairs [(face index, det)], extras [det], near [face])."""
    taken = {}
    extras = []
    for d in sorted(dets, key=lambda d: -d["score"]):
        dcx, dcy, dside = box_geometry(d["box"])
        best, best_dist = None, None
        for i, f in enumerate(faces):
            if i in taken:
                continue
            dist = math.hypot(dcx - f["cx"], dcy - f["cy"])
            if dist <= tol * f["side"] and lo <= dside / f["side"] <= hi:
                if best is None or dist < best_dist:
                    best, best_dist = i, dist
        if best is None:
            extras.append(d)
        else:
            taken[best] = d
    near = []
    for i, f in enumerate(faces):
        if i in taken:
            continue
        for d in dets:
            dcx, dcy, _ = box_geometry(d["box"])
            if math.hypot(dcx - f["cx"], dcy - f["cy"]) <= tol * f["side"]:
                near.append(i)
                break
    return sorted(taken.items()), extras, near


def eye_line(lm):
    """Angle (degrees, clockwise on screen positive) and length of the line from the centre of
    landmarks 36-41 to that of 42-47 (the eyes on the image's left and right)."""
    a, b = lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)
    dx, dy = float(b[0] - a[0]), float(b[1] - a[1])
    return math.degrees(math.atan2(dy, dx)), math.hypot(dx, dy)


def angle_diff(a, b):
    return (a - b + 180) % 360 - 180


def grey64(img):
    from PIL import Image
    im = Image.fromarray(img).convert("L").resize((64, 64), Image.BILINEAR)
    return np.asarray(im, dtype=np.float64)[8:56, 8:56]


def correlation(a, b):
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / den if den > 0 else 0.0


def quantiles(v, qs=(0.05, 0.25, 0.5, 0.75, 0.95)):
    if not v:
        return None
    return {f"q{int(q * 100):02d}": float(np.quantile(v, q)) for q in qs} | {"n": len(v)}


def pct(a, b):
    return 100.0 * a / b if b else None


def paired(x, y):
    """Means of x and y, and the mean of x - y with its 95 % interval (normal approximation)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = len(x)
    if n == 0:
        return None
    d = x - y
    r = {"n": n, "detected": float(x.mean()), "original": float(y.mean()),
         "diff": float(d.mean()), "lo": None, "hi": None}
    if n > 1:
        se = float(d.std(ddof=1) / math.sqrt(n))
        r["lo"], r["hi"] = r["diff"] - 1.96 * se, r["diff"] + 1.96 * se
    return r


def read_preds(path, what):
    preds = {}
    for rec in read_stream(path):
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
            continue
        p = rec.get("pred")
        if isinstance(p, dict):
            preds[rec["id"]] = p
    if not preds:
        die(f"{path} has no record with an id and a pred: is it {what} scored by facet-score?")
    return preds


def model_figures(found, sd, sc):
    """Age, gender and ethnicity figures for detected vs original crops on the found faces."""
    age_d, age_o, g_d, g_o, e_d, e_o = [], [], [], [], [], []
    agree_g, agree_e, age_gap = [], [], []
    missing_d = missing_o = 0
    for face, det in found:
        pd, po = sd.get(det["id"]), sc.get(face["id"])
        if pd is None:
            missing_d += 1
        if po is None:
            missing_o += 1
        if pd is None or po is None:
            continue
        age, gender, eth = utk_labels(face["id"])
        if age is not None and "age" in pd and "age" in po:
            age_d.append(abs(pd["age"] - age))
            age_o.append(abs(po["age"] - age))
        if "age" in pd and "age" in po:
            age_gap.append(abs(pd["age"] - po["age"]))
        if "gender" in pd and "gender" in po:
            gd, go = int(np.argmax(pd["gender"])), int(np.argmax(po["gender"]))
            agree_g.append(gd == go)
            if gender is not None:
                g_d.append(gd == gender)
                g_o.append(go == gender)
        if "ethnicity" in pd and "ethnicity" in po:
            ed, eo = int(np.argmax(pd["ethnicity"])), int(np.argmax(po["ethnicity"]))
            agree_e.append(ed == eo)
            if eth is not None:
                e_d.append(ed == eth)
                e_o.append(eo == eth)
    return {"age_mae": paired(age_d, age_o),
            "gender_acc": paired([100.0 * v for v in g_d], [100.0 * v for v in g_o]),
            "ethnicity_acc": paired([100.0 * v for v in e_d], [100.0 * v for v in e_o]),
            "agree_gender_pct": 100.0 * float(np.mean(agree_g)) if agree_g else None,
            "agree_ethnicity_pct": 100.0 * float(np.mean(agree_e)) if agree_e else None,
            "mean_abs_age_gap": float(np.mean(age_gap)) if age_gap else None,
            "found_without_detected_score": missing_d,
            "found_without_original_score": missing_o}


def evaluate(a):
    scenes = read_truth(a.truth)
    if not scenes:
        die(f"{a.truth} lists no scene")
    by_name = {}
    for s in scenes:
        by_name[s["scene"]] = s
        by_name.setdefault(os.path.splitext(s["scene"])[0], s)  # SOURCE without extension
    contract = Contract()
    image_sizes = {}
    dets = {s["scene"]: [] for s in scenes}
    seen_ids = set()
    for rec in read_stream(a.detected):
        d = check_record(rec, contract, by_name, image_sizes)
        if d is None:
            continue
        if d["id"] in seen_ids:
            contract.bad(d["id"], "id repeated")
        seen_ids.add(d["id"])
        dets[d["scene"]["scene"]].append(d)
    for name, ds in dets.items():  # K runs 0, 1, ... within a photo
        ks = sorted(int(d["k"]) for d in ds if d["k"].isdigit())
        if ks and ks != list(range(len(ks))):
            contract.bad(f"{name}#*", "face indices K are not 0..n-1")
    if len(image_sizes) > 1:
        contract.bad("*", "images of several sizes " + "/".join(map(str, sorted(image_sizes))))

    lo, hi = a.size_range
    n_faces = 0
    found = []  # (truth face, detection)
    angle_tot, angle_hit = [0] * 3, [0] * 3
    side_tot, side_hit = [0] * 3, [0] * 3
    kind_tot = {"one": [0, 0, 0], "two": [0, 0, 0], "empty": [0, 0, 0]}  # scenes, faces, found
    extras_by_kind = {"one": 0, "two": 0, "empty": 0}
    both_found = 0
    empty_hit = 0
    near_misses = 0
    for s in scenes:
        kind = s.get("kind") or {0: "empty", 1: "one"}.get(len(s["faces"]), "two")
        faces = s["faces"]
        pairs, extras, near = match_scene(faces, dets[s["scene"]], a.centre_tol, lo, hi)
        n_faces += len(faces)
        kt = kind_tot.setdefault(kind, [0, 0, 0])
        kt[0] += 1
        kt[1] += len(faces)
        kt[2] += len(pairs)
        extras_by_kind[kind] = extras_by_kind.get(kind, 0) + len(extras)
        near_misses += len(near)
        hit = {i for i, _ in pairs}
        for i, f in enumerate(faces):
            ab, sb = band_of(abs(f["angle"]), ANGLE_BANDS), band_of(f["side"], SIDE_BANDS)
            if ab is not None:
                angle_tot[ab] += 1
                angle_hit[ab] += i in hit
            if sb is not None:
                side_tot[sb] += 1
                side_hit[sb] += i in hit
        if len(faces) == 2 and len(pairs) == 2:
            both_found += 1
        if not faces and dets[s["scene"]]:
            empty_hit += 1
        found.extend((faces[i], d) for i, d in pairs)

    n_found = len(found)
    n_extra = sum(extras_by_kind.values())
    n_dets = sum(len(v) for v in dets.values())
    ratio, off, eye_err, eye_dist, corr = [], [], [], [], []
    for f, d in found:
        dcx, dcy, dside = box_geometry(d["box"])
        ratio.append(dside / f["side"])
        off.append(math.hypot(dcx - f["cx"], dcy - f["cy"]) / f["side"])
        if d["landmarks"] is not None:
            ang, dist = eye_line(d["landmarks"])
            eye_err.append(abs(angle_diff(ang, f["angle"])))
            eye_dist.append(dist / f["side"])
        if d["image"] is not None and not a.no_images:
            path = f.get("path")
            if path and os.path.exists(path):
                from PIL import Image
                orig = np.asarray(Image.open(path).convert("RGB"))
                corr.append(correlation(grey64(d["image"]), grey64(orig)))

    r = {
        "truth": a.truth, "detected": a.detected,
        "match": {"centre_tol": a.centre_tol, "size_range": [lo, hi]},
        "scenes": len(scenes),
        "scenes_by_kind": {k: v[0] for k, v in kind_tot.items()},
        "truth_faces": n_faces, "detections": n_dets,
        "found": n_found, "found_pct": pct(n_found, n_faces),
        "extra": n_extra, "extra_pct_of_truth": pct(n_extra, n_faces),
        "extra_by_kind": extras_by_kind,
        "near_misses": near_misses,
        "found_by_angle": [{"band": f"{b[0]}-{b[1]}", "faces": angle_tot[i],
                            "found": angle_hit[i], "pct": pct(angle_hit[i], angle_tot[i])}
                           for i, b in enumerate(ANGLE_BANDS)],
        "found_by_side": [{"band": f"{b[0]}-{b[1]}", "faces": side_tot[i],
                           "found": side_hit[i], "pct": pct(side_hit[i], side_tot[i])}
                          for i, b in enumerate(SIDE_BANDS)],
        "found_by_kind": {k: {"faces": v[1], "found": v[2], "pct": pct(v[2], v[1])}
                          for k, v in kind_tot.items() if v[1]},
        "two_face_scenes": kind_tot["two"][0], "two_face_both_found": both_found,
        "empty_scenes": kind_tot["empty"][0], "empty_with_detection": empty_hit,
        "box_side_ratio": quantiles(ratio), "centre_offset_per_side": quantiles(off),
        "eye_angle_error_deg": quantiles(eye_err), "eye_distance_per_side": quantiles(eye_dist),
        "crop_correlation": quantiles(corr),
        "image_sizes": {str(k): v for k, v in sorted(image_sizes.items())},
        "contract": {"records": contract.records, "problems": contract.problems,
                     "examples": contract.examples},
    }
    if a.detect_time:
        wall, cpu = a.detect_time
        r["detect_time"] = {"wall_s": wall, "cpu_s": cpu,
                            "scenes_per_s": len(scenes) / wall if wall else None,
                            "scenes_per_cpu_s": len(scenes) / cpu if cpu else None}
    if a.scored_detect:
        r["model"] = model_figures(found, read_preds(a.scored_detect, "the detected stream"),
                                   read_preds(a.scored_crops, "the original crops"))
        r["model"]["scored_detect"], r["model"]["scored_crops"] = a.scored_detect, a.scored_crops
    return r


def fmt(v, spec=".1f", none="-"):
    return none if v is None else format(v, spec)


def print_table(r):
    out = []
    p = out.append
    k = r["scenes_by_kind"]
    p(f"scenes {r['scenes']} ({k.get('one', 0)} one-face, {k.get('two', 0)} two-face, "
      f"{k.get('empty', 0)} empty), truth faces {r['truth_faces']}, detections {r['detections']}")
    t = r.get("detect_time")
    if t:
        p(f"detection: {t['wall_s']:.1f} s wall ({fmt(t['scenes_per_s'])} scenes/s), "
          f"{t['cpu_s']:.1f} CPU-s ({fmt(t['scenes_per_cpu_s'])} scenes/CPU-s)")
    m = r["match"]
    p(f"match: box centre within {m['centre_tol']:g} side of the face's, box side "
      f"{m['size_range'][0]:g}..{m['size_range'][1]:g} x side, greedy by score")
    p("")
    p(f"{'':24s}{'faces':>7s}{'found':>7s}{'%':>7s}")
    p(f"{'all':24s}{r['truth_faces']:7d}{r['found']:7d}{fmt(r['found_pct']):>7s}")
    for kind, label in (("one", "in one-face scenes"), ("two", "in two-face scenes")):
        v = r["found_by_kind"].get(kind)
        if v:
            p(f"{label:24s}{v['faces']:7d}{v['found']:7d}{fmt(v['pct']):>7s}")
    for v in r["found_by_angle"]:
        p(f"{'|angle| ' + v['band'] + ' deg':24s}{v['faces']:7d}{v['found']:7d}{fmt(v['pct']):>7s}")
    for v in r["found_by_side"]:
        p(f"{'side ' + v['band'] + ' px':24s}{v['faces']:7d}{v['found']:7d}{fmt(v['pct']):>7s}")
    p("")
    e = r["extra_by_kind"]
    p(f"extra detections        {r['extra']} ({fmt(r['extra_pct_of_truth'])} % of truth faces; "
      f"{e.get('one', 0)} in one-face, {e.get('two', 0)} in two-face, {e.get('empty', 0)} in "
      "empty scenes)")
    if r["two_face_scenes"]:
        p(f"two-face scenes, both   {r['two_face_both_found']} / {r['two_face_scenes']} "
          f"({fmt(pct(r['two_face_both_found'], r['two_face_scenes']))} %)")
    if r["empty_scenes"]:
        p(f"empty scenes, any det.  {r['empty_with_detection']} / {r['empty_scenes']} "
          f"({fmt(pct(r['empty_with_detection'], r['empty_scenes']))} %)")
    p(f"near misses             {r['near_misses']} (centre close enough, box side out of range)")
    p("")
    p(f"on the faces found{'':18s}{'5 %':>8s}{'25 %':>8s}{'median':>8s}{'75 %':>8s}{'95 %':>8s}")
    for key, label, spec in (("box_side_ratio", "box side / side", ".3f"),
                             ("centre_offset_per_side", "box centre offset / side", ".3f"),
                             ("eye_angle_error_deg", "eye line - angle, |deg|", ".2f"),
                             ("eye_distance_per_side", "eye distance / side", ".3f"),
                             ("crop_correlation", "image vs original crop, r", ".3f")):
        q = r[key]
        if q:
            p(f"{label:36s}" + "".join(f"{fmt(q[x], spec):>8s}"
                                       for x in ("q05", "q25", "q50", "q75", "q95")))
        else:
            p(f"{label:36s}{'(none)':>8s}")
    if r["image_sizes"]:
        p(f"image sizes: " + ", ".join(f"{s}x{s} ({n})" for s, n in r["image_sizes"].items()))
    c = r["contract"]
    if c["problems"]:
        p(f"stream contract: {sum(c['problems'].values())} problems in {c['records']} records: "
          + "; ".join(f"{w} ({n})" for w, n in c["problems"].items()))
        for x in c["examples"]:
            p(f"  e.g. {x}")
    else:
        p(f"stream contract: {c['records']} records, no problem found")
    if "model" in r:
        mo = r["model"]
        p("")
        p(f"model on the faces found{'':12s}{'n':>6s}{'detected':>10s}{'original':>10s}"
          f"{'diff':>8s}  95 % interval")
        for key, label in (("age_mae", "age MAE (years)"), ("gender_acc", "gender accuracy (%)"),
                           ("ethnicity_acc", "ethnicity accuracy (%)")):
            v = mo[key]
            if v is None:
                p(f"{label:36s}{0:6d}")
                continue
            spec = ".2f" if key == "age_mae" else ".1f"
            if v["lo"] is None:
                ci = "-"
            elif v["lo"] == v["hi"]:
                ci = "(no face differs)"
            else:
                ci = f"{fmt(v['lo'], '+' + spec)} .. {fmt(v['hi'], '+' + spec)}"
            p(f"{label:36s}{v['n']:6d}{fmt(v['detected'], spec):>10s}"
              f"{fmt(v['original'], spec):>10s}{fmt(v['diff'], '+' + spec):>8s}  {ci}")
        p(f"detected vs original agree: gender {fmt(mo['agree_gender_pct'])} %, ethnicity "
          f"{fmt(mo['agree_ethnicity_pct'])} %, mean |age difference| "
          f"{fmt(mo['mean_abs_age_gap'], '.2f')} years")
        if mo["found_without_detected_score"] or mo["found_without_original_score"]:
            p(f"found faces left out: {mo['found_without_detected_score']} without a scored "
              f"detection, {mo['found_without_original_score']} without a scored original")
    print("\n".join(out))


def size_range(s):
    m = re.fullmatch(r"([0-9.]+):([0-9.]+)", s)
    if not m or not 0 < float(m.group(1)) <= float(m.group(2)):
        raise argparse.ArgumentTypeError("LO:HI with 0 < LO <= HI, e.g. 0.5:2")
    return float(m.group(1)), float(m.group(2))


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="detect_eval.py",
        usage="%(prog)s --truth TRUTH --detected D.facet [--scored-detect A.facet "
              "--scored-crops B.facet] [--json]",
        description=__doc__.split("\n\n", 2)[0], epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--truth", required=True, metavar="TRUTH",
                   help="truth.jsonl written by detect_scenes.py")
    p.add_argument("--detected", required=True, metavar="D.facet",
                   help="facet-detect's output on the scenes")
    p.add_argument("--scored-detect", metavar="A.facet",
                   help="facet-score's output on D.facet (needs --scored-crops)")
    p.add_argument("--scored-crops", metavar="B.facet",
                   help="facet-score's output on the original crops (needs --scored-detect)")
    p.add_argument("--centre-tol", type=float, default=0.3, metavar="F",
                   help="largest distance of centres, in truth sides (default 0.3)")
    p.add_argument("--size-range", type=size_range, default=(0.5, 2.0), metavar="LO:HI",
                   help="box side over truth side (default 0.5:2)")
    p.add_argument("--no-images", action="store_true",
                   help="skip comparing the records' images with the original crops")
    p.add_argument("--detect-time", metavar="WALL:CPU",
                   help="seconds the detector took on the scenes, wall clock and CPU (shown "
                        "as scenes per second)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("--json-out", metavar="FILE",
                   help="also write the JSON object to FILE (the table is still printed)")
    a = p.parse_args(argv)
    if bool(a.scored_detect) != bool(a.scored_crops):
        p.error("--scored-detect and --scored-crops go together")
    if a.centre_tol <= 0:
        p.error("--centre-tol must be > 0")
    if a.detect_time is not None:
        try:
            a.detect_time = [float(v) for v in a.detect_time.split(":")]
            assert len(a.detect_time) == 2 and min(a.detect_time) >= 0
        except (ValueError, AssertionError):
            p.error("--detect-time takes WALL:CPU, two numbers of seconds")
    r = evaluate(a)
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(r, f, indent=1, allow_nan=False)
            f.write("\n")
    if a.json:
        print(json.dumps(r, indent=1, allow_nan=False))
    else:
        print_table(r)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when the reader stops early
    main()
