#!/usr/bin/python3
"""Write a facet stream built from JSON lines on stdin (for tests).

Each input line is a JSON object; a value {"$image": [H, W, C, fill]} becomes a uint8 numpy tensor
of that shape filled with `fill` (or a gradient when fill is "ramp"), {"$tensor": [dtype, shape,
list]} an arbitrary tensor; everything else is written as is. Runs under /usr/bin/python3 (Debian
python3-msgpack, python3-msgpack-numpy, python3-numpy).
"""
import json
import sys

import msgpack
import msgpack_numpy
import numpy as np


def convert(v):
    if isinstance(v, dict):
        if "$image" in v:
            h, w, c, fill = v["$image"]
            if fill == "ramp":
                return (np.arange(h * w * c) % 256).astype(np.uint8).reshape(h, w, c)
            return np.full((h, w, c), fill, dtype=np.uint8)
        if "$tensor" in v:
            dtype, shape, values = v["$tensor"]
            return np.array(values, dtype=dtype).reshape(shape)
        return {k: convert(x) for k, x in v.items()}
    if isinstance(v, list):
        return [convert(x) for x in v]
    return v


out = sys.stdout.buffer
for line in sys.stdin:
    if line.strip():
        out.write(msgpack.packb(convert(json.loads(line)), default=msgpack_numpy.encode))
