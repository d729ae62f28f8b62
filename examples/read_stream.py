#!/usr/bin/python3
"""Read a facet stream in Python: one dict per record, tensors as numpy arrays.

    facet-synth -n 5 --seed 1 | python3 examples/read_stream.py

Needs Debian's python3-msgpack and python3-msgpack-numpy (run with /usr/bin/python3). The same
two lines write a stream, so a Python program can be a stage of a facet pipeline; see
facet-stream(5).
"""
import sys

import msgpack
import msgpack_numpy


def records(f):
    """Yield each record of the facet stream f as a dict (tensor values become numpy arrays)."""
    yield from msgpack.Unpacker(f, raw=False, object_hook=msgpack_numpy.decode,
                                max_buffer_size=256 << 20)


def main():
    n = 0
    for rec in records(sys.stdin.buffer):
        n += 1
        img = rec.get("image")
        shape = "x".join(map(str, img.shape)) if img is not None else "-"
        labels = " ".join(f"{k}={rec[k]}" for k in ("age", "gender", "ethnicity") if k in rec)
        print(f"{rec.get('id', '?')}\t{shape}\t{img.dtype if img is not None else '-'}\t{labels}")
    print(f"{n} records", file=sys.stderr)


if __name__ == "__main__":
    main()
