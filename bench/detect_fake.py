#!/usr/bin/python3
"""detect_fake: a made-up facet-detect output for the scenes of detect_scenes.py, built from their
truth, to check bench/detect_eval.py (and the pipeline around it) without a detector.

    /usr/bin/python3 bench/detect_fake.py [--truth TRUTH] [--seed S] [--miss P] [--extra P]
        [--size N] DIR/scenes > fake.facet

DIR/scenes and TRUTH (default DIR/truth.jsonl, beside the scenes) are detect_scenes.py's output.
Called as facet-detect is, it can stand in for it: DETECT=bench/detect_fake.py
bench/detect_accuracy.sh DATA WORK 60 runs the whole benchmark on made-up detections.

For each truth face, unless it is missed, one record as facet-detect(1) writes them: id
"SCENE#K" (K from 0, largest face first), box, score, landmarks (float32 [68, 2]) and image
(uint8 [N, N, 3], default 200x200). The face is "found" with a small error: its centre moved by
a normal draw of 3 % of its side each way, its scale by 4 % and its turn by 2 degrees (standard
deviations); the image is the scene (DIR/scenes/SCENE) cut out and warped back to the crop's
geometry with that error, the landmarks a rough 68-point layout of a 200x200 crop taken to the
scene the same way, and the box the square of 0.7 sides around the face's centre (about where a
face detector puts it), scores in 0.5..2.5. A face is missed with probability P (default 0.1)
times 0.5 + |angle| / 15 (more often when turned further), and each scene gains an extra record
with probability P (default 0.05): a box somewhere in the scene, score 0..0.8. Deterministic
given the seed (default 1). The output is no measure of anything: it only exercises the
evaluation.
"""
import argparse
import json
import math
import os
import signal
import sys

import msgpack
import msgpack_numpy
import numpy as np
from PIL import Image

CROP = 200  # UTKFace's crop side, the frame of the truth's geometry


def rough_landmarks():
    """A rough 68-point layout (iBUG order) of a face in a 200x200 UTKFace crop."""
    p = []
    for i in range(17):  # jaw
        a = math.pi * i / 16
        p.append((100 - 78 * math.cos(a), 70 + 95 * math.sin(a)))
    for i in range(5):  # brows
        p.append((40 + 12.5 * i, 44 - 4 * math.sin(math.pi * i / 4)))
    for i in range(5):
        p.append((110 + 12.5 * i, 44 - 4 * math.sin(math.pi * i / 4)))
    for i in range(4):  # nose bridge, then its base
        p.append((100, 62 + 13 * i))
    for i in range(5):
        p.append((86 + 7 * i, 108 + 3 * math.sin(math.pi * i / 4)))
    for cx in (66, 134):  # eyes: 6 points around each centre
        for i in range(6):
            a = math.pi + 2 * math.pi * i / 6
            p.append((cx + 13 * math.cos(a), 60 + 5 * math.sin(a)))
    for i in range(12):  # outer lip
        a = math.pi + 2 * math.pi * i / 12
        p.append((100 + 28 * math.cos(a), 140 + 12 * math.sin(a)))
    for i in range(8):  # inner lip
        a = math.pi + 2 * math.pi * i / 8
        p.append((100 + 18 * math.cos(a), 140 + 5 * math.sin(a)))
    return np.array(p, dtype=np.float64)


def crop_to_scene(cx, cy, side, angle):
    """The affine map (2x3) from crop pixels (CROP frame) to scene pixels."""
    t = math.radians(angle)
    k = side / CROP
    co, si = math.cos(t), math.sin(t)
    a = np.array([[k * co, -k * si], [k * si, k * co]])
    c0 = (CROP - 1) / 2
    b = np.array([cx, cy]) - a @ np.array([c0, c0])
    return np.hstack([a, b[:, None]])


def warp(scene, m, size):
    """out[v, u] = scene at m(u * CROP / size ...): the crop of side size whose frame m maps from
    the CROP frame; bilinear, averaging k x k samples when the scene is shrunk."""
    s = CROP / size
    zoom = math.hypot(m[0, 0], m[1, 0]) * s  # scene pixels per output pixel
    n = max(1, math.ceil(zoom))
    h, w = scene.shape[:2]
    src = scene.astype(np.float32)
    acc = np.zeros((size, size, 3), np.float32)
    for j in range(n):
        for i in range(n):
            off_u, off_v = (i + 0.5) / n - 0.5, (j + 0.5) / n - 0.5
            vv, uu = np.mgrid[0:size, 0:size].astype(np.float64)
            u = (uu + 0.5 + off_u) * s - 0.5
            v = (vv + 0.5 + off_v) * s - 0.5
            x = np.clip(m[0, 0] * u + m[0, 1] * v + m[0, 2], 0, w - 1)
            y = np.clip(m[1, 0] * u + m[1, 1] * v + m[1, 2], 0, h - 1)
            ix, iy = np.minimum(x.astype(int), w - 2), np.minimum(y.astype(int), h - 2)
            fx, fy = (x - ix)[..., None], (y - iy)[..., None]
            acc += ((1 - fy) * ((1 - fx) * src[iy, ix] + fx * src[iy, ix + 1]) +
                    fy * ((1 - fx) * src[iy + 1, ix] + fx * src[iy + 1, ix + 1]))
    return np.clip(np.rint(acc / (n * n)), 0, 255).astype(np.uint8)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="detect_fake.py", description=__doc__.split("\n\n", 2)[0],
        epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenes", metavar="DIR/scenes", help="the scenes of detect_scenes.py")
    p.add_argument("--truth", metavar="TRUTH",
                   help="their truth (default: truth.jsonl in the scenes' parent folder)")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    p.add_argument("--miss", type=float, default=0.1, metavar="P",
                   help="base probability of missing a face (default 0.1)")
    p.add_argument("--extra", type=float, default=0.05, metavar="P",
                   help="probability of an extra record per scene (default 0.05)")
    p.add_argument("--size", type=int, default=200, metavar="N",
                   help="side of the records' images (default 200)")
    a = p.parse_args(argv)
    scene_dir = a.scenes
    if a.truth is None:
        a.truth = os.path.join(os.path.dirname(os.path.abspath(scene_dir.rstrip("/"))),
                               "truth.jsonl")
    tmpl = rough_landmarks()
    out = sys.stdout.buffer
    nrec = 0
    with open(a.truth) as f:
        for num, line in enumerate(f):
            t = json.loads(line)
            rng = np.random.default_rng([a.seed, num])
            scene = np.asarray(Image.open(os.path.join(scene_dir, t["scene"])).convert("RGB"))
            found = []
            for face in t["faces"]:
                if rng.random() < a.miss * (0.5 + abs(face["angle"]) / 15):
                    continue
                side = face["side"] * (1 + rng.normal(0, 0.04))
                cx = face["cx"] + rng.normal(0, 0.03 * face["side"])
                cy = face["cy"] + rng.normal(0, 0.03 * face["side"])
                ang = face["angle"] + rng.normal(0, 2)
                m = crop_to_scene(cx, cy, side, ang)
                lm = tmpl @ m[:, :2].T + m[:, 2] + rng.normal(0, 1.0, size=tmpl.shape)
                half = 0.35 * side
                found.append({"box": [cx - half, cy - half, cx + half, cy + half],
                              "score": float(rng.uniform(0.5, 2.5)),
                              "landmarks": lm.astype(np.float32),
                              "image": warp(scene, m, a.size), "side": side})
            if rng.random() < a.extra:
                side = float(rng.uniform(80, 200))
                cx, cy = rng.uniform(side / 2, 640 - side / 2), rng.uniform(side / 2, 480 - side / 2)
                m = crop_to_scene(cx, cy, side, 0.0)
                lm = tmpl @ m[:, :2].T + m[:, 2]
                half = 0.35 * side
                found.append({"box": [cx - half, cy - half, cx + half, cy + half],
                              "score": float(rng.uniform(0, 0.8)),
                              "landmarks": lm.astype(np.float32),
                              "image": warp(scene, m, a.size), "side": side})
            found.sort(key=lambda d: -d["side"])
            for k, d in enumerate(found):
                rec = {"id": f"{t['scene']}#{k}", "box": [float(v) for v in d["box"]],
                       "score": d["score"], "landmarks": d["landmarks"], "image": d["image"]}
                out.write(msgpack.packb(rec, default=msgpack_numpy.encode, use_bin_type=True))
                nrec += 1
    print(f"detect_fake.py: {nrec} records", file=sys.stderr)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when the reader stops early
    main()
