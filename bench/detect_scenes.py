#!/usr/bin/python3
"""detect_scenes: synthetic photos with known faces, to measure how well facet-detect finds them.

    /usr/bin/python3 bench/detect_scenes.py --faces LIST --out DIR --seed S \\
        [--n N] [--pairs P] [--empty E]

LIST is a text file of face image paths, one a line (UTKFace's aligned 200x200 crops). Writes
DIR/scenes/sNNNNN.jpg (640x480, JPEG quality 90) and DIR/truth.jsonl, one JSON line per scene in
name order:

    {"scene": "s00001.jpg", "kind": "one", "faces": [{"id": FACE FILE NAME, "path": LIST's
     line, "cx": X, "cy": Y, "side": S, "angle": A}]}

Scenes, numbered in this order:
  one    N scenes (default: every face of LIST), the K-th with LIST's K-th face
  two    P scenes (default 0), each with two different faces of LIST drawn at random, whose
         turned squares' bounding boxes do not touch
  empty  E scenes (default 0) with no face

Each face is the whole crop scaled to a side drawn uniformly in 110..300 pixels (an integer),
turned by an angle drawn uniformly in [-15, 15] degrees about its centre and put at a random
place where the turned square lies wholly inside the scene; it is resampled bilinearly (a crop
shrunk by more than a pixel per pixel is first resized with Pillow's bilinear filter, which
averages, so nothing aliases), its edges anti-aliased, and the turned square's corners show the
background. Two faces that cannot both fit are drawn again (sizes, angles and places), so the
faces of two-face scenes are smaller on average.

Geometry, as common/face.h has it: (0, 0) is the centre of the top-left pixel, x to the right, y
down; (cx, cy) is where the crop's centre lands, side the turned square's side in scene pixels,
angle in degrees, positive when the face's up direction is turned clockwise as seen on screen.
A crop point (u, v) (same convention, crop side C) lands at
    (x, y) = (cx, cy) + side/C * R(angle) (u - (C-1)/2, v - (C-1)/2),  R = [[cos, -sin], [sin, cos]].

The background is clutter: random crops, zooms, flips and tints of the non-face photos Debian's
python3-skimage ships (skimage.data: coffee, chelsea, rocket, the motorcycle pair, brick, grass,
gravel, page, text, coins, horse, the Hubble deep field, moon, clock_motion, ihc, retina; never
camera, astronaut or lfw_subset, which show people), overlaid with patches of the others, random
shapes, lines and noise. Scene k's draws come from its own generator, seeded with (S, kind, k),
so a scene depends only on the seed, its kind, its number within the kind, LIST's length (for
the draw of a two-face scene's faces) and its faces: with the same LIST and seed, a larger --n
begins with the same one-face scenes.

The faces are research-only data: DIR must be a work folder outside the repository. Files
sNNNNN.jpg left in DIR/scenes by an earlier run that this run does not write are removed.
"""
import argparse
import json
import math
import os
import re
import signal
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 640, 480
SIDE_MIN, SIDE_MAX = 110, 300
ANGLE_MAX = 15.0
JPEG_QUALITY = 90
CLUTTER = ["coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png",
           "motorcycle_right.png", "brick.png", "grass.png", "gravel.png", "page.png",
           "text.png", "coins.png", "horse.png", "hubble_deep_field.jpg", "moon.png",
           "clock_motion.png", "ihc.png", "retina.jpg"]
KIND_CODE = {"one": 0, "two": 1, "empty": 2}


def skimage_data_dir():
    import skimage.data
    return os.path.dirname(skimage.data.__file__)


def load_clutter():
    """The clutter photos as RGB uint8 arrays (grey ones replicated; alpha over white)."""
    d = skimage_data_dir()
    out = []
    for name in CLUTTER:
        path = os.path.join(d, name)
        if not os.path.exists(path):
            sys.exit(f"detect_scenes.py: no {path} (Debian's python3-skimage ships it)")
        im = Image.open(path)
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        out.append(np.asarray(im.convert("RGB")))
    return out


def random_view(rng, photo, w, h):
    """A w x h view of photo: a random crop, zoomed so that it covers w x h (and up to 2.5x
    more), maybe mirrored, maybe tinted."""
    ph, pw = photo.shape[:2]
    cover = max(w / pw, h / ph)
    zoom = cover * rng.uniform(1.0, 2.5)
    cw, ch = min(pw, w / zoom), min(ph, h / zoom)
    x0, y0 = rng.uniform(0, pw - cw), rng.uniform(0, ph - ch)
    im = Image.fromarray(photo).resize((w, h), Image.BILINEAR,
                                       box=(x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    a = np.asarray(im).astype(np.float32)
    if rng.random() < 0.4:  # tint: a random per-channel gain
        a *= rng.uniform(0.6, 1.3, size=3)
    return a


def random_colour(rng):
    return tuple(int(v) for v in rng.integers(0, 256, size=3))


def clutter(rng, pool):
    """A cluttered W x H background, float32 RGB."""
    bg = random_view(rng, pool[rng.integers(len(pool))], W, H)
    for _ in range(rng.integers(2, 6)):  # patches of other photos
        pw, ph = int(rng.integers(60, 360)), int(rng.integers(60, 300))
        patch = random_view(rng, pool[rng.integers(len(pool))], pw, ph)
        x, y = int(rng.integers(-pw // 3, W - pw // 2)), int(rng.integers(-ph // 3, H - ph // 2))
        alpha = rng.uniform(0.5, 1.0)
        sx0, sy0 = max(0, -x), max(0, -y)
        dx0, dy0 = max(0, x), max(0, y)
        dx1, dy1 = min(W, x + pw), min(H, y + ph)
        if dx1 > dx0 and dy1 > dy0:
            src = patch[sy0:sy0 + dy1 - dy0, sx0:sx0 + dx1 - dx0]
            dst = bg[dy0:dy1, dx0:dx1]
            bg[dy0:dy1, dx0:dx1] = alpha * src + (1 - alpha) * dst
    im = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8)).convert("RGBA")
    over = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    draw = ImageDraw.Draw(over)
    for _ in range(rng.integers(4, 16)):  # shapes
        x0, y0 = rng.uniform(-50, W), rng.uniform(-50, H)
        x1, y1 = x0 + rng.uniform(10, 250), y0 + rng.uniform(10, 200)
        fill = random_colour(rng) + (int(rng.integers(60, 230)),)
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse([x0, y0, x1, y1], fill=fill)
        elif kind == 1:
            draw.rectangle([x0, y0, x1, y1], fill=fill)
        else:
            n = int(rng.integers(3, 7))
            pts = [(float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))) for _ in range(n)]
            draw.polygon(pts, fill=fill)
    for _ in range(rng.integers(3, 14)):  # lines
        pts = [(float(rng.uniform(0, W)), float(rng.uniform(0, H))) for _ in range(2)]
        draw.line(pts, fill=random_colour(rng) + (int(rng.integers(120, 256)),),
                  width=int(rng.integers(1, 7)))
    im = Image.alpha_composite(im, over).convert("RGB")
    if rng.random() < 0.3:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    a = np.asarray(im).astype(np.float32)
    a += rng.normal(0, rng.uniform(1, 8), size=a.shape).astype(np.float32)
    return a


def half_extent(side, angle):
    """Half the width (= height) of the axis-aligned box around a turned square."""
    t = math.radians(angle)
    return side / 2 * (abs(math.cos(t)) + abs(math.sin(t)))


def draw_pose(rng):
    side = int(rng.integers(SIDE_MIN, SIDE_MAX + 1))
    angle = float(rng.uniform(-ANGLE_MAX, ANGLE_MAX))
    return side, angle


def draw_place(rng, side, angle):
    """A centre for which the turned square lies inside the scene (pixel-centre coordinates:
    the scene spans -0.5 .. W-0.5)."""
    h = half_extent(side, angle)
    cx = rng.uniform(h - 0.5, W - 0.5 - h)
    cy = rng.uniform(h - 0.5, H - 0.5 - h)
    return float(cx), float(cy)


def paste(scene, face, cx, cy, side, angle):
    """Draw face (uint8 [C, C, 3]) into scene (float32 [H, W, 3]) as described in the module
    help: bilinear, edges anti-aliased."""
    c = face.shape[0]
    src = face
    if side < c:  # shrink with an averaging filter first, then only turn and shift
        src = np.asarray(Image.fromarray(face).resize((side, side), Image.BILINEAR))
    cs = src.shape[0]
    k = cs / side  # source pixels per scene pixel
    t = math.radians(angle)
    co, si = math.cos(t), math.sin(t)
    e = half_extent(side, angle)
    x0, x1 = max(0, int(math.floor(cx - e))), min(W - 1, int(math.ceil(cx + e)))
    y0, y1 = max(0, int(math.floor(cy - e))), min(H - 1, int(math.ceil(cy + e)))
    ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1].astype(np.float64)
    dx, dy = xs - cx, ys - cy
    # inverse of R(angle): R^T
    u = (cs - 1) / 2 + k * (co * dx + si * dy)
    v = (cs - 1) / 2 + k * (-si * dx + co * dy)
    # coverage: distance (in scene pixels) inside the square's edge, +0.5, clipped to 0..1
    inside = np.minimum.reduce([u + 0.5, cs - 0.5 - u, v + 0.5, cs - 0.5 - v]) / k
    cover = np.clip(inside + 0.5, 0, 1)
    uc, vc = np.clip(u, 0, cs - 1), np.clip(v, 0, cs - 1)
    iu, iv = np.minimum(np.floor(uc).astype(int), cs - 2), np.minimum(np.floor(vc).astype(int), cs - 2)
    fu, fv = (uc - iu)[..., None], (vc - iv)[..., None]
    s = src.astype(np.float32)
    val = ((1 - fv) * ((1 - fu) * s[iv, iu] + fu * s[iv, iu + 1]) +
           fv * ((1 - fu) * s[iv + 1, iu] + fu * s[iv + 1, iu + 1]))
    cover = cover[..., None].astype(np.float32)
    region = scene[y0:y1 + 1, x0:x1 + 1]
    scene[y0:y1 + 1, x0:x1 + 1] = cover * val + (1 - cover) * region


def load_face(path):
    im = Image.open(path).convert("RGB")
    return np.asarray(im)


def boxes_apart(a, b, gap=2.0):
    """Whether the axis-aligned boxes around two placed turned squares are apart."""
    ea, eb = half_extent(a["side"], a["angle"]), half_extent(b["side"], b["angle"])
    return (abs(a["cx"] - b["cx"]) >= ea + eb + gap) or (abs(a["cy"] - b["cy"]) >= ea + eb + gap)


def make_scene(rng, pool, faces):
    """faces: list of (id, path, image); returns (uint8 scene, truth list)."""
    scene = clutter(rng, pool)
    truth = []
    for _ in range(1000):
        truth = []
        for fid, path, _img in faces:
            side, angle = draw_pose(rng)
            cx, cy = draw_place(rng, side, angle)
            truth.append({"id": fid, "path": path, "cx": round(cx, 3), "cy": round(cy, 3),
                          "side": side, "angle": round(angle, 3)})
        if len(truth) < 2 or boxes_apart(truth[0], truth[1]):
            break
    else:
        raise RuntimeError("could not place two faces apart")
    for f, (_fid, _path, img) in zip(truth, faces):
        paste(scene, img, f["cx"], f["cy"], f["side"], f["angle"])
    return np.clip(np.rint(scene), 0, 255).astype(np.uint8), truth


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="detect_scenes.py",
        usage="%(prog)s --faces LIST --out DIR --seed S [--n N] [--pairs P] [--empty E]",
        description=__doc__.split("\n\n", 2)[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", required=True, metavar="LIST",
                   help="text file of face image paths, one a line")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="work folder: DIR/scenes/*.jpg and DIR/truth.jsonl are written there")
    p.add_argument("--seed", required=True, type=int, metavar="S", help="random seed")
    p.add_argument("--n", type=int, default=None, metavar="N",
                   help="one-face scenes, from the first N faces of LIST (default: all)")
    p.add_argument("--pairs", type=int, default=0, metavar="P",
                   help="two-face scenes (default 0)")
    p.add_argument("--empty", type=int, default=0, metavar="E",
                   help="scenes with no face (default 0)")
    a = p.parse_args(argv)
    if a.seed < 0:
        p.error("--seed must be >= 0")
    for k in ("n", "pairs", "empty"):
        v = getattr(a, k)
        if v is not None and v < 0:
            p.error(f"--{k} must be >= 0")
    return a


def main(argv=None):
    a = parse_args(argv)
    with open(a.faces) as f:
        paths = [line.strip() for line in f if line.strip()]
    n = len(paths) if a.n is None else a.n
    if n > len(paths):
        sys.exit(f"detect_scenes.py: --n {n} but {a.faces} lists {len(paths)} faces")
    if a.pairs and len(paths) < 2:
        sys.exit("detect_scenes.py: two-face scenes need at least two faces in LIST")
    total = n + a.pairs + a.empty
    if total > 99999:
        sys.exit("detect_scenes.py: at most 99,999 scenes")
    real_repo = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    out = os.path.realpath(a.out)
    if out == real_repo or out.startswith(real_repo + os.sep):
        sys.exit(f"detect_scenes.py: {a.out} is inside the repository; the faces are "
                 "research-only data: write the scenes to a work folder outside it")
    scene_dir = os.path.join(a.out, "scenes")
    os.makedirs(scene_dir, exist_ok=True)

    pool = load_clutter()
    cache = {}  # faces of two-face scenes

    def face(i, keep=False):
        img = cache.get(i)
        if img is None:
            img = load_face(paths[i])
            if keep:
                cache[i] = img
        return (os.path.basename(paths[i]), paths[i], img)

    plan = [("one", k) for k in range(n)] + [("two", k) for k in range(a.pairs)] + \
        [("empty", k) for k in range(a.empty)]
    names = set()
    truth_tmp = os.path.join(a.out, "truth.jsonl.tmp")
    counts = {"one": 0, "two": 0, "empty": 0}
    with open(truth_tmp, "w") as tf:
        for num, (kind, k) in enumerate(plan, 1):
            rng = np.random.default_rng([a.seed, KIND_CODE[kind], k])
            if kind == "one":
                faces = [face(k)]
            elif kind == "two":
                i, j = rng.choice(len(paths), size=2, replace=False)
                faces = [face(int(i), True), face(int(j), True)]
            else:
                faces = []
            img, truth = make_scene(rng, pool, faces)
            name = f"s{num:05d}.jpg"
            names.add(name)
            Image.fromarray(img).save(os.path.join(scene_dir, name), quality=JPEG_QUALITY)
            tf.write(json.dumps({"scene": name, "kind": kind, "faces": truth}) + "\n")
            counts[kind] += 1
    os.replace(truth_tmp, os.path.join(a.out, "truth.jsonl"))
    stale = [f for f in os.listdir(scene_dir) if re.fullmatch(r"s\d{5}\.jpg", f) and f not in names]
    for f in stale:
        os.remove(os.path.join(scene_dir, f))
    print(f"detect_scenes.py: {total} scenes in {scene_dir} ({counts['one']} one-face, "
          f"{counts['two']} two-face, {counts['empty']} empty; seed {a.seed})"
          + (f"; removed {len(stale)} stale scenes" if stale else ""), file=sys.stderr)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet when the reader stops early
    main()
