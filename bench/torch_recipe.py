#!/usr/bin/python3
"""torch_recipe: the plain PyTorch recipe that facet's model is measured against, re-run on
facet's own split, so that facet's shipped model and the recipe are compared on the same
held-out faces.

    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 \\
        /usr/bin/python3 bench/torch_recipe.py FACES.facet [EPOCHS [SEED]]

FACES.facet is what pipelines/prepare.sh writes (64x64 RGB, labelled, split): the recipe trains on
the "train" part and is scored once, at the end, on the "test" part ("val" is not used: the recipe
has no early stopping). The recipe, as the issue describes it in one line: a VGG-style
32-64-128-256 trunk with batch norm (four 3x3 conv + batch norm + ReLU + 2x2 max-pool blocks,
then global average pooling), 64x64 RGB normalised with the training set's per-channel mean and
deviation, three heads (age: a hidden layer of 128 and L1 on the standardised age; gender: one
logit, binary cross-entropy; ethnicity: five logits, cross-entropy; a hidden layer of 128 with
dropout 0.3 before each), the three losses summed, AdamW (lr 1e-3, weight decay 1e-4), a cosine
schedule, batch 64, random flips and shifts of up to 4 pixels (zero padding), 45 epochs. It is
one reading of that line, written for this comparison; the issue's own code is not available.
Reads the stream with examples/read_stream.py (python3-msgpack, python3-msgpack-numpy).

Prints the figures of the last epoch's model on the test part, plain and with flip averaging, the
recall of each ethnicity and the age MAE by decade, and the training time. Run by hand (about
47 minutes on the 2-core development machine: 61-63 s an epoch; 57 minutes on a slower
day, 75-83 s an epoch); not a test.

With TORCH_RECIPE_SCORED=OUT in the environment it also writes the test faces, scored with flip
averaging, as a facet stream (id, labels, "pred" as facet-score writes it) to OUT, so that
facet-compare(1) can set the recipe against a facet model face by face:

    facet-take test < FACES.facet | facet-score --flip --model models/facet-utk64.facet > facet.scored
    facet-compare facet.scored OUT
"""
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))

ETHNICITIES = ["White", "Black", "Asian", "Indian", "Other"]


def load(path):
    """The records of a facet stream: images [N, 64, 64, 3] uint8 and labels (-1: missing)."""
    from read_stream import records  # the project's stream reader (msgpack, msgpack-numpy)
    parts = {"train": [], "val": [], "test": []}
    with open(path, "rb") as f:
        for r in records(f):
            a = r["image"]
            if a.shape != (64, 64, 3):
                sys.exit("torch_recipe: %s: want 64x64 RGB faces, got %s" % (r.get("id"), a.shape))
            labels = [-1 if r.get(k) is None else int(r[k]) for k in ("age", "gender", "ethnicity")]
            parts[r["split"]].append((a, labels, r.get("id")))
    out = {}
    for k, rows in parts.items():
        x = np.stack([a for a, _, _ in rows]) if rows else np.zeros((0, 64, 64, 3), np.uint8)
        y = np.array([lab for _, lab, _ in rows], np.int64).reshape(-1, 3)
        out[k] = (x, y, [i for _, _, i in rows])
    return out


def write_scored(path, ids, y, age, g, e):
    """The scored faces as a facet stream: id, the labels it has (y, -1: missing), and pred as
    facet-score writes it (age in years, gender [p_male, p_female], ethnicity's five
    probabilities)."""
    import msgpack
    with open(path + ".tmp", "wb") as f:
        for i, rid in enumerate(ids):
            r = {"id": rid}
            for k, key in enumerate(("age", "gender", "ethnicity")):
                if y[i, k] >= 0:
                    r[key] = int(y[i, k])
            pg = float(g[i])
            r["pred"] = {"age": float(age[i]), "gender": [1 - pg, pg],
                         "ethnicity": [float(v) for v in e[i]]}
            f.write(msgpack.packb(r))
    os.replace(path + ".tmp", path)


class Recipe(nn.Module):
    """The recipe's net; convs > 1 puts that many conv + batch norm + ReLU in each block (another
    reading of "VGG-style", used by bench/recipe_splits.py), dropout is the heads' dropout."""

    def __init__(self, convs=1, dropout=0.3):
        super().__init__()
        blocks, cin = [], 3
        for cout in (32, 64, 128, 256):
            for _ in range(convs):
                blocks += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                           nn.ReLU(inplace=True)]
                cin = cout
            blocks.append(nn.MaxPool2d(2))
        self.trunk = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())

        def head(n):
            return nn.Sequential(nn.Linear(256, 128), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(128, n))

        self.age, self.gender, self.eth = head(1), head(1), head(5)

    def forward(self, x):
        h = self.trunk(x)
        return self.age(h).squeeze(1), self.gender(h).squeeze(1), self.eth(h)


def norm_stats(x_u8, y):
    """The training set's per-channel mean and deviation ([1, 3, 1, 1], of pixels in 0..1) and the
    mean and deviation of its known ages, which the age head's target is standardised with."""
    f = x_u8.reshape(-1, 3).astype(np.float64) / 255
    mean = torch.tensor(f.mean(0), dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(f.std(0), dtype=torch.float32).view(1, 3, 1, 1)
    ages = y[:, 0][y[:, 0] >= 0].astype(np.float64)
    return mean, std, float(ages.mean()), float(ages.std())


def to_input(x_u8, mean, std):
    """uint8 faces [N, 64, 64, 3] (numpy, or a tensor on mean's device) to the normalised input."""
    x = torch.from_numpy(x_u8) if isinstance(x_u8, np.ndarray) else x_u8
    x = x.permute(0, 3, 1, 2).float().div_(255)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def augment(x, gen, pad="constant"):
    """Random horizontal flips and shifts of up to 4 pixels (zero padding, or pad as F.pad's mode),
    per image; gen lives on x's device."""
    n, dev = x.shape[0], x.device
    flip = torch.rand(n, generator=gen, device=dev) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    p = F.pad(x, (4, 4, 4, 4), mode=pad)
    dy = torch.randint(0, 9, (n,), generator=gen, device=dev)
    dx = torch.randint(0, 9, (n,), generator=gen, device=dev)
    ar = torch.arange(64, device=dev)
    return p[torch.arange(n, device=dev)[:, None, None, None],
             torch.arange(3, device=dev)[None, :, None, None],
             (dy[:, None] + ar)[:, None, :, None], (dx[:, None] + ar)[:, None, None, :]]


def predict(model, x_u8, mean, std, flip):
    model.eval()
    ages, gs, es = [], [], []
    with torch.no_grad():
        for i in range(0, len(x_u8), 256):
            x = to_input(x_u8[i:i + 256], mean, std)
            views = [x, x.flip(3)] if flip else [x]
            a = g = e = 0
            for v in views:
                pa, pg, pe = model(v)
                a, g, e = a + pa, g + torch.sigmoid(pg), e + torch.softmax(pe, 1)
            ages.append(a / len(views))
            gs.append(g / len(views))
            es.append(e / len(views))
    return torch.cat(ages), torch.cat(gs), torch.cat(es)


def report(name, y, age_z, g, e, age_mean, age_std):
    age = age_z * age_std + age_mean
    ya, yg, ye = (torch.from_numpy(y[:, k]) for k in range(3))
    m = ya >= 0
    mae = (age[m] - ya[m].float()).abs().mean().item()
    m = yg >= 0
    gacc = ((g[m] > 0.5).long() == yg[m]).float().mean().item()
    m = ye >= 0
    pe = e.argmax(1)
    eacc = (pe[m] == ye[m]).float().mean().item()
    print("%s: age MAE %.2f, gender %.1f %%, ethnicity %.1f %%" % (name, mae, 100 * gacc, 100 * eacc))
    rec = []
    for k, nm in enumerate(ETHNICITIES):
        mk = ye == k
        rec.append("%s %.0f %%" % (nm, 100 * (pe[mk] == k).float().mean().item()))
    print("  ethnicity recall: " + ", ".join(rec))
    dec = []
    for lo in range(0, 100, 10):
        mk = (ya >= lo) & (ya < lo + 10)
        if mk.sum() > 0:
            dec.append("%d-%d %.1f" % (lo, lo + 9, (age[mk] - ya[mk].float()).abs().mean().item()))
    print("  age MAE by decade: " + ", ".join(dec))


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0)
    if not 2 <= len(sys.argv) <= 4:
        print("usage: torch_recipe.py FACES.facet [EPOCHS [SEED]] (--help for more)", file=sys.stderr)
        sys.exit(2)
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 45
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    torch.manual_seed(seed)
    torch.set_num_threads(os.cpu_count())
    gen = torch.Generator().manual_seed(seed)
    d = load(sys.argv[1])
    xtr, ytr, _ = d["train"]
    xte, yte, idte = d["test"]
    mean, std, age_mean, age_std = norm_stats(xtr, ytr)
    print("torch_recipe: %d train, %d test faces; %d epochs, seed %d, %d threads, torch %s"
          % (len(xtr), len(xte), epochs, seed, torch.get_num_threads(), torch.__version__))
    model = Recipe().to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    steps = epochs * math.ceil(len(xtr) / 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen).numpy()
        tot, nb = 0.0, 0
        for i in range(0, len(perm), 64):
            idx = perm[i:i + 64]
            x = augment(to_input(xtr[idx], mean, std), gen).contiguous(
                memory_format=torch.channels_last)
            y = torch.from_numpy(ytr[idx])
            pa, pg, pe = model(x)
            loss = 0
            m = y[:, 0] >= 0
            if m.any():
                loss = loss + F.l1_loss(pa[m], (y[m, 0].float() - age_mean) / age_std)
            m = y[:, 1] >= 0
            if m.any():
                loss = loss + F.binary_cross_entropy_with_logits(pg[m], y[m, 1].float())
            m = y[:, 2] >= 0
            if m.any():
                loss = loss + F.cross_entropy(pe[m], y[m, 2])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
            nb += 1
        print("epoch %d/%d: train loss %.4f, %.0f s" % (ep + 1, epochs, tot / nb, time.time() - t0),
              flush=True)
    print("trained in %.1f min" % ((time.time() - t0) / 60))
    for flip in (False, True):
        a, g, e = predict(model, xte, mean, std, flip)
        report("test, " + ("flip averaged" if flip else "plain"), yte, a, g, e, age_mean, age_std)
    scored = os.environ.get("TORCH_RECIPE_SCORED")
    if scored:
        write_scored(scored, idte, yte, a * age_std + age_mean, g, e)
        print("wrote the flip-averaged test scores to %s" % scored)


if __name__ == "__main__":
    main()
