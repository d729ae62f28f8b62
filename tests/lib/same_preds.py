#!/usr/bin/python3
"""Check that two scored facet streams hold the same records with the same predictions.

  same_preds.py A B [TOL]

A and B must have the same ids in the same order, each id once, every record with a "pred";
every predicted number (age, gender and ethnicity probabilities) must be within TOL (default
1e-5) of the other stream's. Prints "N records, max |difference| D" and exits 0 when they agree;
else names the first disagreement on stderr and exits 1. Reads record by record, so streams of
any size do. Runs under /usr/bin/python3 (Debian python3-msgpack).
"""
import itertools
import sys

import msgpack


def records(path):
    with open(path, "rb") as f:
        yield from msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 30)


def numbers(pred):
    out = []
    for head in ("age", "gender", "ethnicity"):
        v = pred.get(head)
        out.extend(v if isinstance(v, list) else [] if v is None else [v])
    return out


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: same_preds.py A B [TOL]")
    tol = float(sys.argv[3]) if len(sys.argv) == 4 else 1e-5
    seen, n, worst = set(), 0, 0.0
    for a, b in itertools.zip_longest(records(sys.argv[1]), records(sys.argv[2])):
        if a is None or b is None:
            sys.exit("%s ends after %d records, the other goes on"
                     % (sys.argv[1] if a is None else sys.argv[2], n))
        if a.get("id") != b.get("id"):
            sys.exit("record %d: id %r in A, %r in B" % (n, a.get("id"), b.get("id")))
        if a["id"] in seen:
            sys.exit("record %d: id %r seen before" % (n, a["id"]))
        seen.add(a["id"])
        if "pred" not in a or "pred" not in b:
            sys.exit("record %d (%s): no pred" % (n, a["id"]))
        pa, pb = numbers(a["pred"]), numbers(b["pred"])
        if len(pa) != len(pb) or not pa:
            sys.exit("record %d (%s): predictions of other heads" % (n, a["id"]))
        d = max(abs(x - y) for x, y in zip(pa, pb))
        worst = max(worst, d)
        if not d <= tol:
            sys.exit("record %d (%s): predictions differ by %g > %g" % (n, a["id"], d, tol))
        n += 1
    print("%d records, max |difference| %.3g" % (n, worst))


if __name__ == "__main__":
    main()
