#!/usr/bin/python3
"""recipe_splits: the plain PyTorch recipe (bench/torch_recipe.py) trained many times over, on
other splits, other training seeds and other readings of the issue's one-line description, to
show how far its test figures move with the draw. Meant for a GPU: on one H200, eight to ten
runs of 45 epochs side by side took 3.5-4.5 minutes (one run takes about an hour on the 2-core
development machine). Run by hand, not a test; its figures are in docs/experiments.md.

    /usr/bin/python3 bench/recipe_splits.py pack FACES.facet PACK.npz
    python3 bench/recipe_splits.py run PACK.npz OUT.jsonl [--workers N] [--deadline S]
                                      [--epochs E] [--limit N] [--jobs PLAN]
    /usr/bin/python3 bench/recipe_splits.py summary OUT.jsonl
    /usr/bin/python3 bench/recipe_splits.py scored OUT.jsonl RUN OUT.scored

pack: FACES.facet is a 64x64 RGB labelled stream (pipelines/prepare.sh with FACET_SIZE=64x64);
the faces are stored as JPEG (quality 90, about 41 MB for UTKFace's 21,357) with their ids and
labels, small enough to carry to a GPU machine, which needs only numpy, Pillow and torch. The
JPEG step changes the pixels a little: the split-7 runs show what that costs against the recipe
re-run on the exact pixels (docs/experiments.md).

run: trains the jobs of PLAN (default: the plan below), several at a time (--workers), each on
its own split of the packed faces: the split is facet-split's (same hash of seed and id, ratios
80:10:10, checked against the stream's own split field when packing), so split 7 is the split
`make model` uses. Each finished job is one JSON line in OUT.jsonl: the job, its test figures
plain and with flip averaging (age MAE, gender and ethnicity accuracy, log-losses, ethnicity
recall per class), its training time, and its flip-averaged test predictions, so that
facet-compare(1) can set a run against a facet model trained on the same split face by face
(`scored`). --deadline S stops
starting jobs S seconds after the start and ends the run when the last one started is done or
at 1.5 S, whichever is first; lines already written stay.

A job is VARIANT:SPLIT_SEED:TRAIN_SEED. Variants, each one reading of the issue's line (the rest
as in bench/torch_recipe.py, which is "base"):
  base      one conv per block, AdamW lr 1e-3 weight decay 1e-4, L1 on the standardised age,
            dropout 0.3 in the heads, shifts of up to 4 pixels with zero padding
  wd1e-2    AdamW's own default weight decay, 0.01
  wd5e-2    weight decay 0.05
  mse       mean squared error on the standardised age
  reflect   shifts with the border pixels repeated instead of zeros
  vgg2      two convs per block (VGG's own blocks; about twice the compute)
  lr3e-3    learning rate 3e-3
  nodrop    no dropout in the heads
and two additions that are not in the line, asked about for facet's own recipe:
  ema       the weights averaged over the steps (decay 0.999), used for the test
  mixup     pairs of faces mixed (weight drawn from Beta(0.2, 0.2)), the losses mixed alike
"""
import argparse
import io
import json
import math
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

VARIANTS = {
    "base": {},
    "wd1e-2": {"wd": 1e-2},
    "wd5e-2": {"wd": 5e-2},
    "mse": {"age_loss": "mse"},
    "reflect": {"pad": "replicate"},
    "vgg2": {"convs": 2},
    "lr3e-3": {"lr": 3e-3},
    "nodrop": {"dropout": 0.0},
    "ema": {"ema": 0.999},
    "mixup": {"mixup": 0.2},
}
DEFAULTS = {"wd": 1e-4, "lr": 1e-3, "age_loss": "l1", "pad": "constant", "convs": 1,
            "dropout": 0.3, "ema": 0.0, "mixup": 0.0}


def default_plan():
    """Most wanted first: the recipe on split 7 (calibration against the re-run on exact pixels),
    other training seeds on it, other splits, then the other readings on split 7, two seeds each."""
    jobs = ["base:7:1", "base:7:2", "base:7:3"]
    jobs += ["base:%d:1" % s for s in range(1, 13) if s != 7]
    for v in ("wd1e-2", "vgg2", "mse", "reflect", "wd5e-2", "lr3e-3", "nodrop", "ema", "mixup"):
        jobs += ["%s:7:1" % v, "%s:7:2" % v]
    return jobs


# ---- facet-split's placement (tools/facet-split.c): FNV-1a of the id, then splitmix64's finaliser

M64 = (1 << 64) - 1


def placing(ident):
    """The part of an id that places it: SOURCE of a face id SOURCE#K, else all of it."""
    src, sep, k = ident.rpartition("#")
    return src if sep and src and k.isascii() and k.isdigit() else ident


def id_hash(seed, ident):
    ident = placing(ident)
    h = 1469598103934665603 ^ ((seed * 0x9E3779B97F4A7C15) & M64)
    for b in ident.encode():
        h = ((h ^ b) * 1099511628211) & M64
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & M64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & M64
    h ^= h >> 31
    return h


def parts(ids, seed, ratios=(0.8, 0.1, 0.1)):
    """0 train, 1 val, 2 test for each id, as `facet-split --seed SEED --ratios 80:10:10`."""
    out = np.empty(len(ids), np.int8)
    for i, ident in enumerate(ids):
        u = (id_hash(seed, ident) >> 11) * 2.0 ** -53
        out[i] = 0 if u < ratios[0] else 1 if u < ratios[0] + ratios[1] else 2
    return out


# ---- pack

def pack(src, dst, check_seed):
    from PIL import Image
    sys.path.insert(0, os.path.join(HERE, "..", "examples"))
    from read_stream import records
    ids, labels, blobs, split = [], [], [], []
    with open(src, "rb") as f:
        for r in records(f):
            a = r["image"]
            if a.shape != (64, 64, 3) or a.dtype != np.uint8:
                sys.exit("recipe_splits: %s: want 64x64 RGB uint8 faces, got %s %s"
                         % (r.get("id"), a.shape, a.dtype))
            b = io.BytesIO()
            Image.fromarray(a).save(b, "JPEG", quality=90)
            blobs.append(np.frombuffer(b.getvalue(), np.uint8))
            ids.append(r["id"])
            labels.append([-1 if r.get(k) is None else int(r[k])
                           for k in ("age", "gender", "ethnicity")])
            split.append(r.get("split"))
    mine = parts(ids, check_seed)
    theirs = np.array([{"train": 0, "val": 1, "test": 2}.get(s, -1) for s in split], np.int8)
    bad = int((mine != theirs).sum())
    if bad:
        sys.exit("recipe_splits: %d of %d faces placed otherwise than the stream's split "
                 "(seed %d)" % (bad, len(ids), check_seed))
    print("split seed %d: all %d faces placed as in the stream" % (check_seed, len(ids)))
    offs = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    tmp = dst + ".tmp.npz"
    np.savez(tmp, ids=np.array(ids), labels=np.array(labels, np.int64),
             jpeg=np.concatenate(blobs), offsets=offs)
    os.replace(tmp, dst)
    print("packed %d faces into %s (%.1f MB)" % (len(ids), dst, os.path.getsize(dst) / 1e6))


def unpack(path, limit):
    from PIL import Image
    z = np.load(path)
    ids = [str(s) for s in z["ids"]]
    labels, jpeg, offs = z["labels"], z["jpeg"], z["offsets"]
    n = len(ids) if not limit else min(limit, len(ids))
    x = np.empty((n, 64, 64, 3), np.uint8)
    for i in range(n):
        x[i] = np.asarray(Image.open(io.BytesIO(jpeg[offs[i]:offs[i + 1]].tobytes())).convert("RGB"))
    return ids[:n], labels[:n], x


# ---- one training run

def run_job(job, data, epochs):
    import torch
    import torch.nn.functional as F
    from torch_recipe import Recipe, augment, norm_stats, predict, to_input

    variant, split_seed, seed = job.split(":")
    split_seed, seed = int(split_seed), int(seed)
    c = dict(DEFAULTS, **VARIANTS[variant])
    ids, labels, x_all, part_cache = data
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if split_seed not in part_cache:
        part_cache[split_seed] = parts(ids, split_seed)
    part = part_cache[split_seed]
    tr, te = np.flatnonzero(part == 0), np.flatnonzero(part == 2)
    torch.manual_seed(seed)
    gen = torch.Generator(device=dev).manual_seed(seed)
    mean, std, age_mean, age_std = norm_stats(x_all[tr], labels[tr])
    mean, std = mean.to(dev), std.to(dev)
    ytr = torch.from_numpy(labels[tr]).to(dev)
    xtr = torch.from_numpy(x_all[tr]).to(dev)
    xte = torch.from_numpy(x_all[te]).to(dev)
    yte = labels[te]

    model = Recipe(convs=c["convs"], dropout=c["dropout"]).to(dev).to(
        memory_format=torch.channels_last)
    kw = {"fused": True} if dev.type == "cuda" else {}
    opt = torch.optim.AdamW(model.parameters(), lr=c["lr"], weight_decay=c["wd"], **kw)
    nb = math.ceil(len(tr) / 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * nb)
    ema = None
    if c["ema"]:
        ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    beta = torch.distributions.Beta(c["mixup"], c["mixup"]) if c["mixup"] else None

    def losses(pa, pg, pe, y, w):
        """The three losses summed, each the mean over the faces with that label, times w."""
        tot = 0
        m = y[:, 0] >= 0
        za = (y[:, 0].float() - age_mean) / age_std
        la = (pa - za).abs() if c["age_loss"] == "l1" else (pa - za) ** 2
        tot = tot + w * (la * m).sum() / m.sum().clamp(min=1)
        m = y[:, 1] >= 0
        lg = F.binary_cross_entropy_with_logits(pg, y[:, 1].clamp(min=0).float(), reduction="none")
        tot = tot + w * (lg * m).sum() / m.sum().clamp(min=1)
        m = y[:, 2] >= 0
        le = F.cross_entropy(pe, y[:, 2].clamp(min=0), reduction="none")
        return tot + w * (le * m).sum() / m.sum().clamp(min=1)

    t0 = time.time()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(tr), generator=gen, device=dev)
        for i in range(0, len(tr), 64):
            idx = perm[i:i + 64]
            xb = augment(to_input(xtr[idx], mean, std), gen, c["pad"])
            yb = ytr[idx]
            if beta is not None:
                lam = float(beta.sample())
                j = torch.randperm(len(idx), generator=gen, device=dev)
                pa, pg, pe = model(lam * xb + (1 - lam) * xb[j])
                loss = losses(pa, pg, pe, yb, lam) + losses(pa, pg, pe, yb[j], 1 - lam)
            else:
                pa, pg, pe = model(xb)
                loss = losses(pa, pg, pe, yb, 1.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                with torch.no_grad():
                    for k, v in model.state_dict().items():
                        if v.dtype.is_floating_point:
                            ema[k].mul_(c["ema"]).add_(v, alpha=1 - c["ema"])
                        else:
                            ema[k].copy_(v)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    train_s = time.time() - t0
    if ema is not None:
        model.load_state_dict(ema)
    out = {"job": job, "variant": variant, "split_seed": split_seed, "seed": seed,
           "epochs": epochs, "train": len(tr), "test": len(te), "train_s": round(train_s, 1),
           "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"}
    for flip in (False, True):
        a, g, e = (t.double().cpu().numpy() for t in predict(model, xte, mean, std, flip))
        age = a * age_std + age_mean
        out["flip" if flip else "plain"] = figures(yte, age, g, e)
    out["ids"] = [ids[i] for i in te]
    out["labels"] = yte.tolist()
    out["pred"] = {"age": np.round(age, 4).tolist(), "gender": np.round(g, 6).tolist(),
                   "ethnicity": np.round(e, 6).tolist()}
    return out


def figures(y, age, g, e):
    from torch_recipe import ETHNICITIES
    r = {}
    m = y[:, 0] >= 0
    r["age_mae"] = float(np.abs(age[m] - y[m, 0]).mean())
    m = y[:, 1] >= 0
    p = np.clip(g[m], 1e-7, 1 - 1e-7)
    r["gender_acc"] = float(((g[m] > 0.5) == (y[m, 1] == 1)).mean())
    r["gender_nll"] = float(-np.where(y[m, 1] == 1, np.log(p), np.log(1 - p)).mean())
    m = y[:, 2] >= 0
    pe = e[m].argmax(1)
    r["eth_acc"] = float((pe == y[m, 2]).mean())
    r["eth_nll"] = float(-np.log(np.clip(e[m][np.arange(m.sum()), y[m, 2]], 1e-7, 1)).mean())
    r["eth_recall"] = {nm: float((pe[y[m, 2] == k] == k).mean()) for k, nm in enumerate(ETHNICITIES)}
    return r


# ---- run many

_DATA = None


def _init(pack_path, limit):
    global _DATA
    import torch
    torch.set_num_threads(1 if torch.cuda.is_available() else os.cpu_count())
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ids, labels, x = unpack(pack_path, limit)
    _DATA = (ids, labels, x, {})


def _work(args):
    job, epochs = args
    try:
        return run_job(job, _DATA, epochs)
    except Exception as ex:  # a failed job is reported as a line, not lost
        return {"job": job, "error": "%s: %s" % (type(ex).__name__, ex)}


def run(a):
    import multiprocessing as mp
    jobs = a.jobs.split(",") if a.jobs else default_plan()
    for j in jobs:
        v, s1, s2 = j.split(":")
        if v not in VARIANTS or not s1.isdigit() or not s2.isdigit():
            sys.exit("recipe_splits: bad job %r (VARIANT:SPLIT_SEED:TRAIN_SEED; variants %s)"
                     % (j, ", ".join(VARIANTS)))
    t0 = time.time()
    ctx = mp.get_context("spawn")
    done = 0
    with open(a.out, "a") as out, ctx.Pool(a.workers, _init, (a.pack, a.limit)) as pool:
        pending, queue = [], list(jobs)
        while True:
            late = a.deadline and time.time() - t0 > a.deadline
            while queue and len(pending) < a.workers and not late:
                j = queue.pop(0)
                pending.append((j, pool.apply_async(_work, ((j, a.epochs),))))
            if not pending:
                break
            if a.deadline and time.time() - t0 > 1.5 * a.deadline:
                print("deadline: %d jobs stopped, %d not started" % (len(pending), len(queue)),
                      flush=True)
                pool.terminate()
                break
            still = []
            for j, res in pending:
                if not res.ready():
                    still.append((j, res))
                    continue
                r = res.get()
                out.write(json.dumps(r) + "\n")
                out.flush()
                done += 1
                if "error" in r:
                    print("%s: %s" % (j, r["error"]), flush=True)
                    continue
                p, fl = r["plain"], r["flip"]
                print("%-16s %5.0f s  plain %.2f %.1f %.1f  flip %.2f %.1f %.1f  [%.0f s]"
                      % (j, r["train_s"], p["age_mae"], 100 * p["gender_acc"], 100 * p["eth_acc"],
                         fl["age_mae"], 100 * fl["gender_acc"], 100 * fl["eth_acc"],
                         time.time() - t0), flush=True)
            pending = still
            time.sleep(0.5)
    print("%d of %d jobs done in %.0f s" % (done, len(jobs), time.time() - t0))


def summary(path):
    rows = [json.loads(s) for s in open(path)]
    rows = [r for r in rows if "error" not in r]
    groups = {}
    for r in rows:
        key = (r["variant"], "split 7" if r["split_seed"] == 7 else "other splits")
        groups.setdefault(key, []).append(r)
    print("| variant | splits | runs | age MAE, flip | gender, flip | ethnicity, flip | ethnicity, plain | 'Other' recall, flip |")
    print("|---|---|---|---|---|---|---|---|")

    def ms(v, scale=1.0, fmt="%.2f"):
        v = np.array(v) * scale
        if len(v) == 1:
            return fmt % v[0]
        return (fmt + " (%s-%s, sd %s)") % (v.mean(), fmt % v.min(), fmt % v.max(), fmt % v.std(ddof=1))

    for (v, s), rs in sorted(groups.items(), key=lambda kv: (list(VARIANTS).index(kv[0][0]), kv[0][1])):
        print("| %s | %s | %d | %s | %s | %s | %s | %s |" % (
            v, s, len(rs), ms([r["flip"]["age_mae"] for r in rs]),
            ms([r["flip"]["gender_acc"] for r in rs], 100, "%.1f"),
            ms([r["flip"]["eth_acc"] for r in rs], 100, "%.1f"),
            ms([r["plain"]["eth_acc"] for r in rs], 100, "%.1f"),
            ms([r["flip"]["eth_recall"]["Other"] for r in rs], 100, "%.0f")))
    print()
    for r in rows:
        print("%-16s split %2d seed %d: flip %.2f / %.1f %% / %.1f %% (eth log-loss %.3f), %.0f s"
              % (r["job"], r["split_seed"], r["seed"], r["flip"]["age_mae"],
                 100 * r["flip"]["gender_acc"], 100 * r["flip"]["eth_acc"], r["flip"]["eth_nll"],
                 r["train_s"]))


def scored(path, job, dst):
    """A run's flip-averaged test scores as a facet stream, for facet-compare(1)."""
    from torch_recipe import write_scored
    for s in open(path):
        r = json.loads(s)
        if r.get("job") == job and "pred" in r:
            break
    else:
        sys.exit("recipe_splits: no run %s with predictions in %s" % (job, path))
    p = r["pred"]
    write_scored(dst, r["ids"], np.array(r["labels"]), p["age"], p["gender"], p["ethnicity"])
    print("wrote %d scored faces of %s to %s" % (len(r["ids"]), job, dst))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("faces")
    p.add_argument("out")
    p.add_argument("--check-seed", type=int, default=7)
    p = sub.add_parser("run")
    p.add_argument("pack")
    p.add_argument("out")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--deadline", type=float, default=0)
    p.add_argument("--epochs", type=int, default=45)
    p.add_argument("--limit", type=int, default=0)
    p.add_argument("--jobs", default="")
    p = sub.add_parser("summary")
    p.add_argument("results")
    p = sub.add_parser("scored")
    p.add_argument("results")
    p.add_argument("job")
    p.add_argument("out")
    a = ap.parse_args()
    if a.cmd == "pack":
        pack(a.faces, a.out, a.check_seed)
    elif a.cmd == "run":
        run(a)
    elif a.cmd == "summary":
        summary(a.results)
    else:
        scored(a.results, a.job, a.out)


if __name__ == "__main__":
    main()
