#!/usr/bin/python3
"""face_template.py: the alignment template, measured, and how close a crop comes back.

  face_template.py mean < DETECTED        the mean landmark positions, as common/face_template.inc
  face_template.py roundtrip CROPS DETECTED   how far facet-detect's crops are from the crops

DETECTED is facet-detect's output on UTKFace's 200x200 crops (one face each: --largest); CROPS
is the same crops decoded (facet-decode), in the same order. The mean is over the faces found,
in the crops' own pixels. The round trip compares, for each crop whose face was found, the
aligned 200x200 output with the crop it came from: the mean absolute pixel difference (0..255),
and how far the alignment moves the crop's pixels: the similarity that takes the face's
landmarks 27..67 to the template, inverted, applied to every pixel of the 200x200 grid, mean
distance from where the pixel was (0 when the crop comes back exactly as it was).
Needs Debian's python3-numpy, -msgpack and -msgpack-numpy."""
import sys

import msgpack
import msgpack_numpy
import numpy as np

FIRST = 27  # the landmarks alignment fits (common/face.h FACET_ALIGN_FIRST)


def records(path):
    with open(path, "rb") as f:
        yield from msgpack.Unpacker(f, raw=False, object_hook=msgpack_numpy.decode,
                                    max_buffer_size=1 << 30)


def template_from_inc(path):
    rows = []
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        line = line.strip(",").strip("{}")
        if line:
            rows.append([float(v.strip().rstrip("f")) for v in line.split(",")])
    return np.array(rows)


def similarity(src, dst):
    """Least-squares similarity src -> dst as a 2x3 matrix (as common/face.c fits it)."""
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    den = (s ** 2).sum()
    a = (s * d).sum() / den
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / den
    m = np.array([[a, -b], [b, a]])
    return m, md - m @ ms


def mean(stream):
    pts = [r["landmarks"].astype(np.float64) for r in records(stream)]
    if not pts:
        sys.exit("face_template.py: no faces in the stream")
    m = np.mean(pts, axis=0)
    print("/* the mean of %d faces' landmarks; bench/face_template.sh */" % len(pts))
    for x, y in m:
        print("\t{%.2ff, %.2ff}," % (x, y))


def roundtrip(crops_path, detected_path, inc):
    tpl = template_from_inc(inc)
    crops = {r["id"]: r["image"] for r in records(crops_path)}
    grid = np.stack(np.meshgrid(np.arange(200.0), np.arange(200.0)), -1).reshape(-1, 2)
    diffs, moves, n = [], [], 0
    for r in records(detected_path):
        src = r["id"].rsplit("#", 1)[0]
        if src not in crops or r["image"].shape != crops[src].shape:
            continue
        n += 1
        diffs.append(np.abs(r["image"].astype(np.int16) - crops[src].astype(np.int16)).mean())
        m, t = similarity(r["landmarks"][FIRST:].astype(np.float64), tpl[FIRST:])
        inv = np.linalg.inv(m)
        back = (grid - t) @ inv.T  # where each output pixel was taken from
        moves.append(np.linalg.norm(back - grid, axis=1).mean())
    if not n:
        sys.exit("face_template.py: no detected face matches a crop")
    q = lambda v, p: np.percentile(v, p)
    print("crops %d, found %d (%.1f %%)" % (len(crops), n, 100.0 * n / len(crops)))
    print("mean |pixel difference| (0..255): mean %.2f, median %.2f, 90th percentile %.2f"
          % (np.mean(diffs), q(diffs, 50), q(diffs, 90)))
    print("pixels moved by the alignment (px of 200): mean %.2f, median %.2f, 90th percentile %.2f"
          % (np.mean(moves), q(moves, 50), q(moves, 90)))


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "mean":
        mean("/dev/stdin")
    elif len(sys.argv) == 5 and sys.argv[1] == "roundtrip":
        roundtrip(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
