#!/usr/bin/python3
"""Write the hand-made files of facet's hostile-input corpus into this folder (tests/hostile/).

Run once by a person when a case is added (`/usr/bin/python3 tests/hostile/mkcorpus.py`); the
files are committed, small, and described with their expected status and message in INDEX.
Every image here is synthetic. Fuzz-found reproducers are copied in from fuzz/regress/.
"""
import io
import os
import struct
import sys
import zlib

import msgpack
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
# Where to write: the folder given as the first argument (tests/hostile.bats makes the corpus in
# a temporary folder at every run, so no image file is kept in the repository), else beside this
# script.
DEST = sys.argv[1] if len(sys.argv) > 1 else HERE
os.makedirs(DEST, exist_ok=True)


def out(name, data):
    with open(os.path.join(DEST, name), "wb") as f:
        f.write(data)


def tensor(dtype, shape, data=None, **over):
    t = {b"nd": True, b"type": dtype, b"kind": b"", b"shape": list(shape)}
    if data is None:
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        data = bytes(n)
    t[b"data"] = data
    for k, v in over.items():
        t[k.encode()] = v
    return t


def rec(**kw):
    return msgpack.packb(kw)


good_img = tensor("|u1", [2, 2, 3])

# ---- streams: headers that ask for memory they do not hold
out("stream-array-2e28.bin", b"\xdd\x10\x00\x00\x00")
out("stream-map32-4g-entries.bin", b"\xdf\xff\xff\xff\xff")
out("stream-key-array-2e28.bin", b"\x81\xa1a\xdd\x10\x00\x00\x00")
out("stream-bin32-4gb.bin", b"\x81\xa1a\xc6\xff\xff\xff\xff")
out("stream-str32-id-4gb.bin", b"\x81\xa2id\xdb\xff\xff\xff\xff")
out("stream-ext32-4gb.bin", b"\x81\xa1x\xc9\xff\xff\xff\xff\x01")
out("stream-nested-17.bin", b"\x81\xa1a" + b"\x91" * 17 + b"\xc0")
out("stream-invalid-c1.bin", b"\x81\xa1a\xc1")
out("stream-not-msgpack.txt", b"hello, I am not a facet stream\n")
out("stream-truncated.bin", rec(id="a.jpg", image=good_img)[:-3])
out("stream-trailing-garbage.bin", rec(id="a.jpg") + b"\x81")
# ---- streams: well-formed msgpack, invalid records
out("stream-age-200.bin", rec(id="a", age=200))
out("stream-age-negative.bin", rec(id="a", age=-1))
out("stream-age-string.bin", rec(id="a", age="30"))
out("stream-age-float.bin", rec(id="a", age=30.5))
out("stream-gender-2.bin", rec(id="a", gender=2))
out("stream-ethnicity-5.bin", rec(id="a", ethnicity=5))
out("stream-id-int.bin", rec(id=7))
out("stream-id-5000.bin", rec(id="x" * 5000))
out("stream-split-bad.bin", rec(id="a", split="holdout"))
out("stream-tensor-short.bin", rec(id="a", image=tensor("|u1", [2, 2, 3], bytes(11))))
out("stream-tensor-shape-overflow.bin",
    rec(id="a", image=tensor("|u1", [2**31, 2**31, 3], bytes(12))))
out("stream-tensor-shape-2e63.bin", rec(id="a", image=tensor("|u1", [2**63, 2, 3], bytes(12))))
out("stream-tensor-9-dims.bin", rec(id="a", image=tensor("|u1", [1] * 9, bytes(1))))
out("stream-tensor-negative-dim.bin", rec(id="a", image=tensor("|u1", [-1, 2, 3], bytes(0))))
out("stream-tensor-object-dtype.bin", rec(id="a", image=tensor("|O", [2, 2, 3], bytes(12))))
out("stream-tensor-structured.bin", rec(id="a", image=tensor("|V4", [1, 1, 3], bytes(12),
                                                             kind=b"V")))
out("stream-tensor-no-nd.bin", rec(id="a", image={b"type": "|u1", b"shape": [1, 1, 1],
                                                  b"data": b"\x00"}))
out("stream-image-4-channels.bin", rec(id="a", image=tensor("|u1", [2, 2, 4])))
out("stream-image-2-dims.bin", rec(id="a", image=tensor("|u1", [4, 4])))
out("stream-image-zero-height.bin", rec(id="a", image=tensor("|u1", [0, 4, 3])))
out("stream-image-f64.bin", rec(id="a", image=tensor("<f8", [2, 2, 1])))
out("stream-image-not-map.bin", rec(id="a", image=[1, 2, 3]))
out("stream-pred-nan.bin", rec(id="a", pred={"gender": [float("nan"), 0.5]}))
out("stream-pred-3-gender.bin", rec(id="a", pred={"gender": [0.2, 0.3, 0.5]}))
out("stream-pred-age-inf.bin", rec(id="a", pred={"age": float("inf")}))
out("stream-pred-not-map.bin", rec(id="a", pred=4))
# facet-detect's keys
out("stream-box-3-numbers.bin", rec(id="a#0", box=[1.0, 2.0, 3.0]))
out("stream-box-nan.bin", rec(id="a#0", box=[1.0, float("nan"), 3.0, 4.0]))
out("stream-box-backwards.bin", rec(id="a#0", box=[30.0, 2.0, 10.0, 40.0]))
out("stream-score-string.bin", rec(id="a#0", score="high"))
out("stream-landmarks-f64.bin", rec(id="a#0", landmarks=tensor("<f8", [68, 2])))
out("stream-landmarks-3-columns.bin", rec(id="a#0", landmarks=tensor("<f4", [68, 3])))
# the second record is bad: the first must still come out, the run must still fail
out("stream-second-record-bad.bin", rec(id="ok", age=3) + rec(id="bad", age=131))

# ---- images
rng = np.random.default_rng(1)
img = Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
buf = io.BytesIO()
img.save(buf, "JPEG", quality=90)
jpeg = buf.getvalue()
out("image-empty.jpg", b"")
# a good 16x16 JPEG, and one cut inside its header (TurboJPEG fails in tjDecompressHeader3)
good = io.BytesIO()
Image.new("RGB", (16, 16), (10, 20, 30)).save(good, "JPEG", quality=90)
out("image-good.jpg", good.getvalue())
out("image-missing-sos.jpg", good.getvalue()[:300])
out("image-truncated.jpg", jpeg[: len(jpeg) // 2])
out("image-header-only.jpg", jpeg[:4])
out("image-text.png", b"this is not a PNG\n")
# a JPEG whose frame header claims 65500x65500 (12 GB of pixels)
sof = jpeg.index(b"\xff\xc0")
out("image-jpeg-65500x65500.jpg",
    jpeg[: sof + 5] + struct.pack(">HH", 65500, 65500) + jpeg[sof + 9:])
# a progressive JPEG declaring 61745x16385: libjpeg would keep 6 GB of DCT coefficients whatever
# the output scale, so it is refused from its header
prog = io.BytesIO()
img.save(prog, "JPEG", quality=90, progressive=True)
prog = prog.getvalue()
sof2 = prog.index(b"\xff\xc2")
out("image-jpeg-progressive-bomb.jpg",
    prog[: sof2 + 5] + struct.pack(">HH", 16385, 61745) + prog[sof2 + 9:])


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# a PNG whose header claims 100000x100000 RGB, with one row of data
png = (b"\x89PNG\r\n\x1a\n"
       + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
       + png_chunk(b"IDAT", zlib.compress(b"\x00" * 301))
       + png_chunk(b"IEND", b""))
out("image-png-100000x100000.png", png)

# ---- the notebook CSV (facet-decode --csv) and label tables (facet-label --csv)
pixels = " ".join(["7"] * 2304)
out("csv-no-pixels-column.csv", b"age,ethnicity,gender,img_name\n1,2,0,a.jpg\n")
out("csv-short-pixels.csv", b"age,ethnicity,gender,img_name,pixels\n1,2,0,a.jpg,1 2 3\n")
out("csv-pixel-300.csv",
    ("age,ethnicity,gender,img_name,pixels\n1,2,0,a.jpg," + "300 " + pixels[2:] + "\n").encode())
out("csv-age-abc.csv", ("age,ethnicity,gender,img_name,pixels\nabc,2,0,a.jpg," + pixels + "\n")
    .encode())
cols = ["c%d" % i for i in range(65)] + ["age", "ethnicity", "gender", "img_name", "pixels"]
out("csv-65-columns.csv", (",".join(cols) + "\n" + ",".join(["0"] * 65 + ["1", "2", "1", "a.jpg",
                                                                         pixels]) + "\n").encode())
out("labels-empty.csv", b"")
out("labels-no-id.csv", b"age,gender\n1,0\n")
out("labels-duplicate-id.csv", b"id,age\na.jpg,1\na.jpg,2\n")
out("labels-age-999.csv", b"id,age\na.jpg,999\n")

# ---- network configs (facet-train --config)
out("config-empty.cfg", b"")
out("config-unknown-section.cfg", b"[transformer]\n")
out("config-unknown-key.cfg", b"[input] colour=1\n[head age]\n[dense] units=1\n")
out("config-nul-byte.cfg", b"[input] width=4\x00\n[head age]\n[dense] units=1\n")
out("config-units-2e9.cfg", b"[head age]\n[flatten]\n[dense] units=2000000000\n[dense] units=1\n")
out("config-huge-dense.cfg", b"[input] width=4096 height=4096 channels=3\n[flatten]\n"
    b"[head age]\n[dense] units=1048576\n[dense] units=1\n")
out("config-window-too-big.cfg", b"[input] width=4 height=4\n[conv] filters=2 size=9 pad=valid\n"
    b"[head age]\n[flatten]\n[dense] units=1\n")

# ---- model files (facet-train --resume, facet-predict --model)
out("model-empty.facet", b"")
out("model-not-a-model.facet", rec(format="facet-stream", version=1))
out("model-version-99.facet", rec(format="facet-model", version=99))
out("model-no-config.facet", rec(format="facet-model", version=1))
out("model-bad-config.facet", rec(format="facet-model", version=1, config="[nonsense]\n"))
out("model-map-2e28.facet", b"\x81\xa6format\xdf\x10\x00\x00\x00")
