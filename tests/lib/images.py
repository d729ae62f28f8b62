#!/usr/bin/python3
"""Image helpers for the decode/resize/synth tests. Runs under /usr/bin/python3 (Debian
python3-msgpack, python3-msgpack-numpy, python3-numpy; `write` also python3-pil).

  images.py write DIR EXT [QUALITY] < STREAM   each record's image -> DIR/<id>.EXT (Pillow)
  images.py csv < STREAM                      the reference notebook's CSV (48x48 grey records)
  images.py shapes STREAM                     "id HxWxC dtype" per record
  images.py pixel STREAM INDEX Y X            the channel values of one pixel
  images.py diff A B                          mean and max absolute difference over all images
  images.py halve < STREAM                    images 2x2 block-averaged (numpy reference)
  images.py learn STREAM                      fit linear models on the pixels, print test scores
"""
import sys

import msgpack
import msgpack_numpy
import numpy as np


def records(path):
    f = sys.stdin.buffer if path == "-" else open(path, "rb")
    return list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))


def write(out, recs):
    for r in recs:
        out.write(msgpack.packb(r, default=msgpack_numpy.encode))


def main(argv):
    cmd = argv[1]
    if cmd == "write":
        from PIL import Image
        d, ext = argv[2], argv[3]
        q = int(argv[4]) if len(argv) > 4 else 90
        for r in records("-"):
            im = r["image"]
            im = Image.fromarray(im[:, :, 0] if im.shape[2] == 1 else im)
            name = "%s/%s.%s" % (d, r["id"], ext)
            im.save(name, quality=q) if ext in ("jpg", "jpeg") else im.save(name)
    elif cmd == "csv":
        print("age,ethnicity,gender,img_name,pixels")
        for r in records("-"):
            px = " ".join(str(int(v)) for v in r["image"].reshape(-1))
            print("%d,%d,%d,%s.jpg.chip.jpg,%s" % (r["age"], r["ethnicity"], r["gender"], r["id"], px))
    elif cmd == "shapes":
        for r in records(argv[2]):
            im = r["image"]
            print("%s %s %s" % (r["id"], "x".join(str(s) for s in im.shape), im.dtype))
    elif cmd == "pixel":
        r = records(argv[2])[int(argv[3])]
        print(" ".join(str(int(v)) for v in r["image"][int(argv[4]), int(argv[5])]))
    elif cmd == "diff":
        a, b = records(argv[2]), records(argv[3])
        if len(a) != len(b):
            sys.exit("images.py: %d records against %d" % (len(a), len(b)))
        tot, n, mx = 0.0, 0, 0
        for x, y in zip(a, b):
            if x["image"].shape != y["image"].shape:
                sys.exit("images.py: %s: shape %s against %s" % (x["id"], x["image"].shape, y["image"].shape))
            d = np.abs(x["image"].astype(np.int32) - y["image"].astype(np.int32))
            tot += d.sum()
            n += d.size
            mx = max(mx, int(d.max()))
        print("%.3f %d" % (tot / max(n, 1), mx))
    elif cmd == "halve":
        recs = records("-")
        for r in recs:
            im = r["image"].astype(np.float64)
            h, w, c = im.shape
            im = im[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2, c).mean(axis=(1, 3))
            r["image"] = np.floor(im + 0.5).astype(np.uint8)
        write(sys.stdout.buffer, recs)
    elif cmd == "learn":
        recs = records(argv[2])
        x = np.stack([r["image"].astype(np.float64).reshape(-1) / 255 for r in recs])
        x = np.hstack([x, np.ones((len(x), 1))])
        age = np.array([r["age"] for r in recs], float)
        gender = np.array([r["gender"] for r in recs], float)
        eth = np.array([r["ethnicity"] for r in recs])
        n = len(recs) * 4 // 5

        def fit(y):
            a = x[:n]
            return np.linalg.solve(a.T @ a + 1.0 * np.eye(a.shape[1]), a.T @ y[:n])

        g = (x[n:] @ fit(gender) > 0.5) == (gender[n:] > 0.5)
        onehot = np.eye(5)[eth]
        e = np.argmax(x[n:] @ fit(onehot), axis=1) == eth[n:]
        mae = np.abs(x[n:] @ fit(age) - age[n:]).mean()
        base = np.abs(np.median(age[:n]) - age[n:]).mean()
        gbase = max(gender[n:].mean(), 1 - gender[n:].mean())
        ebase = np.bincount(eth[n:], minlength=5).max() / len(eth[n:])
        print("gender_acc %.3f (baseline %.3f)" % (g.mean(), gbase))
        print("ethnicity_acc %.3f (baseline %.3f)" % (e.mean(), ebase))
        print("age_mae %.2f (baseline %.2f)" % (mae, base))
    else:
        sys.exit("images.py: unknown command " + cmd)


main(sys.argv)
