#!/usr/bin/python3
"""Look inside facet model files and metrics files (for tests).

  model_tool.py same-params A B      exit 0 when A and B hold bit-identical parameters and the
                                     same training history (timings aside); say what differs
  model_tool.py get FILE KEY.KEY...  print a value of a model/checkpoint map as JSON
  model_tool.py metrics FILE         print each epoch record of a metrics file as a JSON line
  model_tool.py finite FILE          exit 0 when every parameter of FILE is finite; print the count
  model_tool.py untimed FILE         write FILE's bytes with every time_s and images_per_s value
                                     zeroed, so that cmp compares two runs byte for byte less
                                     their timings
"""
import json
import sys

import numpy as np

import msgpack
import msgpack_numpy


def load(path):
    with open(path, "rb") as f:
        return msgpack.unpackb(f.read(), raw=False, object_hook=msgpack_numpy.decode,
                               strict_map_key=False)


def history(m):
    return [{k: v for k, v in e.items() if k not in ("time_s", "images_per_s")}
            for e in m["train"]["history"]]


def main():
    cmd = sys.argv[1]
    if cmd == "same-params":
        a, b = load(sys.argv[2]), load(sys.argv[3])
        pa, pb = a["params"], b["params"]
        if pa.keys() != pb.keys():
            sys.exit("different parameter names")
        bad = [k for k in pa if pa[k].dtype != pb[k].dtype or pa[k].tobytes() != pb[k].tobytes()]
        if bad:
            sys.exit("parameters differ: " + ", ".join(bad))
        if history(a) != history(b):
            sys.exit("training histories differ")
        print(f"{len(pa)} parameter tensors identical")
    elif cmd == "finite":
        p = load(sys.argv[2])["params"]
        bad = [k for k in p if not np.isfinite(p[k]).all()]
        if bad:
            sys.exit("not finite: " + ", ".join(bad))
        print(f"{len(p)} parameter tensors finite")
    elif cmd == "untimed":
        with open(sys.argv[2], "rb") as f:
            b = bytearray(f.read())
        for key in (b"time_s", b"images_per_s"):
            tag = bytes([0xa0 | len(key)]) + key + b"\xcb"  # fixstr key, then a float 64
            at = b.find(tag)
            while at >= 0:
                b[at + len(tag):at + len(tag) + 8] = bytes(8)
                at = b.find(tag, at + len(tag) + 8)
        sys.stdout.buffer.write(b)
    elif cmd == "get":
        v = load(sys.argv[2])
        for k in sys.argv[3].split("."):
            v = v[k]
        print(json.dumps(v))
    elif cmd == "metrics":
        with open(sys.argv[2], "rb") as f:
            for rec in msgpack.Unpacker(f, raw=False):
                print(json.dumps(rec, sort_keys=True))
    else:
        sys.exit("unknown command " + cmd)


main()
