#!/usr/bin/python3
"""torch_speed: images per second of PyTorch on a facet network config (the same network
bench/nn_speed.c runs in facet), training or inference, on synthetic data.

    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 \
        /usr/bin/python3 bench/torch_speed.py CONFIG train|infer fp32|bf16|int8 BATCH SECONDS

PyTorch at its best on CPU: torch.set_num_threads(all cores), channels_last, bf16 through
autocast; tcmalloc is the caller's job (LD_PRELOAD; the script says whether it is loaded).
int8 (inference only) is PyTorch's own post-training static quantization: FX graph mode
(prepare_fx, which fuses conv + batch norm + ReLU, calibration on the batch, convert_fx) with
the quantized engine named by TORCH_QENGINE, else the first of x86, fbgemm, onednn that this
build has (Debian's 1.13 has onednn and qnnpack, no fbgemm); it exits 3 when there is none.
A training step: forward, the losses of every head, backward, one Adam step. Prints one line
in the format of nn_speed.
"""
import os
import re
import resource
import sys
import time

import torch
import torch.nn as nn


def parse_config(path):
    """facet's config (facet-config(5)): [section] then key=value pairs, # or ; comments."""
    sections = []
    for raw in open(path):
        line = re.split(r"[#;]", raw, maxsplit=1)[0]
        for tok in re.findall(r"\[[^\]]*\]|\S+", line):
            if tok.startswith("["):
                sections.append((tok[1:-1].split(), {}))
            else:
                key, _, value = tok.partition("=")
                sections[-1][1][key] = value
    return sections


class Net(nn.Module):
    """A trunk and up to three heads, as facet builds them from the config."""

    def __init__(self, sections):
        super().__init__()
        inp = dict(width=48, height=48, channels=1)
        self.train_cfg = {}
        trunk, heads, cur = [], {}, None
        for name, kv in sections:
            if name[0] == "input":
                inp.update({k: int(v) for k, v in kv.items() if k in inp})
            elif name[0] == "train":
                self.train_cfg = kv
            elif name[0] == "head":
                cur = heads.setdefault(name[1], {"cfg": kv, "layers": []})["layers"]
            else:
                (trunk if cur is None else cur).append((name[0], kv))
        self.input = (inp["channels"], inp["height"], inp["width"])
        self.trunk, shape = self.build(trunk, self.input)
        self.heads = nn.ModuleDict()
        self.losses = {}
        for h, spec in heads.items():
            self.heads[h], _ = self.build(spec["layers"], shape)
            kind = spec["cfg"].get("loss", {"age": "mse", "gender": "bce"}.get(h, "ce"))
            loss = LOSSES[kind] if kind != "dldl" else DldlLoss(
                float(spec["cfg"].get("sigma", 2)), float(spec["cfg"].get("l1", 1)))
            self.losses[h] = (loss, float(spec["cfg"].get("weight", 1)))

    @staticmethod
    def build(layers, shape):
        mods = []
        for kind, kv in layers:
            act = kv.get("activation", "linear")
            if kind == "conv":
                c, h, w = shape
                k, s = int(kv.get("size", 3)), int(kv.get("stride", 1))
                p = (k - 1) // 2 if kv.get("pad", "same") == "same" else 0
                f = int(kv["filters"])
                mods.append(nn.Conv2d(c, f, k, s, p))
                shape = (f, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
            elif kind == "maxpool":
                c, h, w = shape
                k, s = int(kv.get("size", 2)), int(kv.get("stride", 2))
                mods.append(nn.MaxPool2d(k, s))
                shape = (c, (h - k) // s + 1, (w - k) // s + 1)
            elif kind == "batchnorm":
                bn = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
                mods.append(bn(shape[0], eps=float(kv.get("eps", 1e-3)),
                               momentum=1 - float(kv.get("momentum", 0.99))))
            elif kind == "dense":
                if len(shape) == 3:
                    mods.append(nn.Flatten())
                    shape = (shape[0] * shape[1] * shape[2],)
                mods.append(nn.Linear(shape[0], int(kv["units"])))
                shape = (int(kv["units"]),)
            elif kind == "dropout":
                mods.append(nn.Dropout(float(kv.get("rate", 0.5))))
            elif kind == "relu":
                mods.append(nn.ReLU())
            elif kind == "flatten":
                if len(shape) == 3:
                    mods.append(nn.Flatten())
                    shape = (shape[0] * shape[1] * shape[2],)
            elif kind == "gap":
                mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
                shape = (shape[0],)
            else:
                sys.exit(f"torch_speed: unknown layer [{kind}]")
            if act == "relu":  # sigmoid/softmax live in the losses (logits)
                mods.append(nn.ReLU(inplace=True))
        return nn.Sequential(*mods), shape

    def forward(self, x):
        z = self.trunk(x)
        return {h: head(z) for h, head in self.heads.items()}


class DldlLoss(nn.Module):
    """facet's dldl age loss (facet-config(5)): KL from a Gaussian of sigma years around the age
    to the softmax over one output per year, plus l1 * |E[age] - age| / std. Like facet, it takes
    the standardised age (age - mean) / std as its target."""

    def __init__(self, sigma, l1, mean=33.0, std=20.0):
        super().__init__()
        self.sigma, self.l1, self.mean, self.std = sigma, l1, mean, std

    def forward(self, z, t):
        age = t * self.std + self.mean
        years = torch.arange(z.shape[1], dtype=z.dtype)
        logq = torch.log_softmax(-0.5 * ((years - age) / self.sigma) ** 2, dim=1)
        logp = torch.log_softmax(z, dim=1)
        kl = (logq.exp() * (logq - logp)).sum(1).mean()
        e = (logp.exp() * years).sum(1, keepdim=True)
        return kl + self.l1 * (e - age).abs().mean() / self.std


LOSSES = {
    "mse": nn.MSELoss(), "l1": nn.L1Loss(), "smoothl1": nn.SmoothL1Loss(),
    "bce": nn.BCEWithLogitsLoss(), "ce": nn.CrossEntropyLoss(),
}


def quantize(net, x):
    """PyTorch's post-training static int8: FX graph mode, calibrated on x."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    have = torch.backends.quantized.supported_engines
    want = os.environ.get("TORCH_QENGINE")
    engine = want if want in have else next((e for e in ("x86", "fbgemm", "onednn") if e in have), None)
    if engine is None:
        print(f"torch_speed: no x86 int8 engine in this PyTorch (it has {have})", file=sys.stderr)
        sys.exit(3)
    torch.backends.quantized.engine = engine
    net.eval()
    prepared = prepare_fx(net, get_default_qconfig_mapping(engine), example_inputs=(x,))
    with torch.no_grad():
        prepared(x)
    return convert_fx(prepared), engine


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def own_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: torch_speed.py CONFIG train|infer fp32|bf16|int8 BATCH SECONDS")
    config, mode, prec, batch, seconds = sys.argv[1:]
    train, bf16, batch, seconds = mode == "train", prec == "bf16", int(batch), float(seconds)
    if train and prec == "int8":
        sys.exit("torch_speed: int8 is for inference only")
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(1)
    net = Net(parse_config(config)).to(memory_format=torch.channels_last)
    x = torch.rand(batch, *net.input).contiguous(memory_format=torch.channels_last)
    targets = {
        "age": torch.randn(batch, 1),
        "gender": torch.randint(0, 2, (batch, 1)).float(),
        "ethnicity": torch.randint(0, 5, (batch,)),
    }
    lr = float(net.train_cfg.get("lr", 1e-3))
    opt_cls = torch.optim.AdamW if net.train_cfg.get("optimizer") == "adamw" else torch.optim.Adam
    opt = opt_cls(net.parameters(), lr=lr, eps=float(net.train_cfg.get("eps", 1e-7)))
    net.train(train)
    engine = ""
    if prec == "int8":
        net, engine = quantize(net, x)

    def step():
        if not train:
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                net(x)
            return
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            out = net(x)
            loss = sum(w * fn(out[h].float(), targets[h]) for h, (fn, w) in net.losses.items())
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    rates = []
    busy0, cpu0, t0 = machine_busy(), own_cpu(), time.perf_counter()
    end = t0 + seconds
    while True:
        w0 = time.perf_counter()
        steps = 0
        while True:
            step()
            steps += 1
            if time.perf_counter() - w0 >= 1.0:
                break
        rates.append(steps * batch / (time.perf_counter() - w0))
        if time.perf_counter() >= end:
            break
    wall = time.perf_counter() - t0
    other = max(0.0, (machine_busy() - busy0 - (own_cpu() - cpu0)) / wall)
    rates.sort()
    tc = "tcmalloc" if "tcmalloc" in os.environ.get("LD_PRELOAD", "") else "glibc malloc"
    if engine:
        tc += f", FX int8 on the {engine} engine"
    print(f"torch {mode} {prec} batch {batch}: {rates[len(rates) // 2]:.1f} img/s "
          f"(median of {len(rates)} windows, min {rates[0]:.1f}, max {rates[-1]:.1f}) "
          f"other-load {other:.2f} [torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"channels_last, {tc}]")


if __name__ == "__main__":
    main()
