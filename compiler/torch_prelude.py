# ---- advcc's layers in PyTorch (compiler/torch_prelude.py) -----------------
# Each computes what the generated C computes, in the same float order where
# it matters (the quantisers), with the same straight-through gradients.

import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def round_half_away(v):
    """round() with ties away from zero, as the C code (runtime/quant.h,
    quant_round); torch.round takes ties to even.  v - trunc(v) is exact."""
    t = torch.trunc(v)
    f = v - t
    return t + (f >= 0.5).to(v.dtype) - (f <= -0.5).to(v.dtype)


def quant_grid(x, lo, hi, bits):
    """x onto the grid lo + j s, s = (hi - lo) / (2^bits - 1), j = 0..2^bits-1:
    s * round(clip((x - lo) / s, 0, 2^bits - 1)) + lo (runtime/quant.h,
    quant_value).  Where hi <= lo (s not > 0) x passes as it is."""
    top = float(2 ** bits - 1)
    s = (hi - lo) / top
    ok = s > 0
    safe = torch.where(ok, s, torch.ones_like(s))
    q = safe * round_half_away(torch.clamp((x - lo) / safe, 0.0, top)) + lo
    return torch.where(ok, q, x)


class FakeQuantFunction(torch.autograd.Function):
    """A weight fake-quantised to `bits` (docs/METHODS.md 4, Algorithm 2):
    over the tensor's min and max ("minmax"), each output row's ("channel")
    or fixed bounds [lo, hi] ("fixed").  Backward: the saturating
    straight-through estimator, dL/dw = dL/dq where lo <= w <= hi (all of w
    for min/max bounds)."""

    @staticmethod
    def forward(ctx, w, bits, qrange, lo, hi):
        if qrange == "channel":
            rows = w.reshape(w.shape[0], -1)
            a = rows.min(dim=1, keepdim=True).values
            b = rows.max(dim=1, keepdim=True).values
            q = quant_grid(rows, a, b, bits).reshape(w.shape)
            mask = torch.ones_like(w)
        elif qrange == "fixed":
            a = torch.tensor(lo, dtype=w.dtype, device=w.device)
            b = torch.tensor(hi, dtype=w.dtype, device=w.device)
            q = quant_grid(w, a, b, bits)
            mask = ((w >= a) & (w <= b)).to(w.dtype) if bool(b > a) else torch.ones_like(w)
        else:
            q = quant_grid(w, w.min(), w.max(), bits)
            mask = torch.ones_like(w)
        ctx.save_for_backward(mask)
        return q

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None, None, None, None


class QuantConv2d(nn.Conv2d):
    """A convolution whose weight is fake-quantised in the forward; the
    float master weight is the parameter (conv<i>.weight)."""

    def __init__(self, *args, bits=8, qrange="minmax", qlo=0.0, qhi=0.0, **kw):
        super().__init__(*args, **kw)
        self.bits, self.qrange, self.qlo, self.qhi = bits, qrange, qlo, qhi

    def forward(self, x):
        w = FakeQuantFunction.apply(self.weight, self.bits, self.qrange, self.qlo, self.qhi)
        return F.conv2d(x, w, self.bias, self.stride, self.padding)


class QuantLinear(nn.Linear):
    def __init__(self, *args, bits=8, qrange="minmax", qlo=0.0, qhi=0.0, **kw):
        super().__init__(*args, **kw)
        self.bits, self.qrange, self.qlo, self.qhi = bits, qrange, qlo, qhi

    def forward(self, x):
        w = FakeQuantFunction.apply(self.weight, self.bits, self.qrange, self.qlo, self.qhi)
        return F.linear(x, w, self.bias)


class Normalize(nn.Module):
    """(x - mean[c]) / std[c] on pixels in [0, 1]: part of the model, so an
    attack works in pixel space.  Constants, not checkpoint tensors."""

    def __init__(self, mean, std):
        super().__init__()
        c = len(mean)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, c, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, c, 1, 1),
                             persistent=False)

    def forward(self, x):
        return (x - self.mean) / self.std


class DTReLUFunction(torch.autograd.Function):
    """y = q_bits(clip(x, lo, hi)) on the grid of [lo, hi]; where hi <= lo
    every output is hi (runtime/dtrelu.h).  Backward: dx = dy where
    lo <= x <= hi, dL/dlo = sum of dy where x < lo, dL/dhi = sum of dy
    where x > hi; when hi <= lo, dx = 0, dlo = 0, dhi = sum of dy."""

    @staticmethod
    def forward(ctx, x, lo, hi, bits):
        ctx.save_for_backward(x, lo, hi)
        if not bool(hi > lo):
            return hi.expand_as(x).clone()
        return quant_grid(x, lo, hi, bits)

    @staticmethod
    def backward(ctx, g):
        x, lo, hi = ctx.saved_tensors
        if not bool(hi > lo):
            return torch.zeros_like(g), torch.zeros_like(lo), g.sum().reshape(hi.shape), None
        dx = g * ((x >= lo) & (x <= hi)).to(g.dtype)
        dlo = (g * (x < lo).to(g.dtype)).sum().reshape(lo.shape)
        dhi = (g * (x > hi).to(g.dtype)).sum().reshape(hi.shape)
        return dx, dlo, dhi, None


class DTReLU(nn.Module):
    """The learnable-threshold quantised activation, bounds <name>.lo and
    <name>.hi (shape [1])."""

    def __init__(self, bits, lo, hi):
        super().__init__()
        self.bits = bits
        self.lo = nn.Parameter(torch.tensor([float(lo)]))
        self.hi = nn.Parameter(torch.tensor([float(hi)]))

    def forward(self, x):
        return DTReLUFunction.apply(x, self.lo, self.hi, self.bits)


def _cell(t, x):
    """The largest j with t[j] <= x, -1 below t[0] (runtime/threshold_act.c)."""
    return torch.searchsorted(t.detach().contiguous(), x.detach().contiguous(), right=True) - 1


class PWLinear(nn.Module):
    """Piecewise linear through (thresholds[j], values[j]), flat outside;
    gradients by autograd, as runtime/threshold_act.c takes them."""

    def __init__(self, levels, lo, hi):
        super().__init__()
        t = torch.tensor([lo + (hi - lo) * j / max(levels - 1, 1) for j in range(levels)])
        self.thresholds = nn.Parameter(t.clone())
        self.values = nn.Parameter(t.clone())    # the identity on [lo, hi]

    def forward(self, x):
        t, v, k = self.thresholds, self.values, self.thresholds.numel()
        flat = x.reshape(-1)
        j = _cell(t, flat)
        inner = torch.clamp(j, 0, k - 2)
        t0, t1, v0, v1 = t[inner], t[inner + 1], v[inner], v[inner + 1]
        w = (flat - t0) / (t1 - t0)
        y = v0 + w * (v1 - v0)
        y = torch.where(j < 0, v[0].expand_as(y), y)
        y = torch.where(j >= k - 1, v[k - 1].expand_as(y), y)
        return y.reshape(x.shape)


class _ThresholdFunction(torch.autograd.Function):
    """NaiveDT (nearest=False: the threshold of x's cell) and DDTReLU
    (nearest=True: the nearest threshold).  Backward: dx = dy where
    t[0] <= x <= t[k-1]; each threshold gets the sum of dy of the inputs
    mapped to it."""

    @staticmethod
    def forward(ctx, x, t, nearest):
        flat = x.reshape(-1)
        if nearest:
            mid = (t[:-1] + t[1:]) * 0.5
            j = torch.searchsorted(mid.contiguous(), flat.contiguous(), right=True)
        else:
            j = torch.clamp(_cell(t, flat), min=0)
        ctx.save_for_backward(x, t, j)
        return t[j].reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x, t, j = ctx.saved_tensors
        dx = g * ((x >= t[0]) & (x <= t[-1])).to(g.dtype)
        dt = torch.zeros_like(t).index_add_(0, j, g.reshape(-1))
        return dx, dt, None


class NaiveDT(nn.Module):
    def __init__(self, levels, lo, hi, nearest=False):
        super().__init__()
        self.nearest = nearest
        self.thresholds = nn.Parameter(torch.tensor(
            [lo + (hi - lo) * j / max(levels - 1, 1) for j in range(levels)]))

    def forward(self, x):
        return _ThresholdFunction.apply(x, self.thresholds, self.nearest)


class DDTReLU(NaiveDT):
    def __init__(self, levels, lo, hi):
        super().__init__(levels, lo, hi, nearest=True)


class Noise(nn.Module):
    """x + sigma * xi, xi ~ N(0, 1), in training and evaluation alike (the
    random self-ensemble, docs/METHODS.md 6).  `enabled = False` turns it
    off (the model's noise-free part); `generator` fixes the draws;
    `source`, a callable shape -> tensor, gives them instead (a test
    replays the C runtime's draws with it)."""

    def __init__(self, sigma):
        super().__init__()
        self.sigma = sigma
        self.enabled = True
        self.generator = None
        self.source = None

    def forward(self, x):
        if not self.enabled or self.sigma == 0:
            return x
        if self.source is not None:
            xi = self.source(tuple(x.shape))
        else:
            xi = torch.randn(x.shape, generator=self.generator, dtype=x.dtype, device=x.device)
        return x + (self.sigma * xi).to(x.dtype)


class Dropout(nn.Module):
    """Inverted dropout (docs/METHODS.md 1): in training each element is
    zeroed with probability p, the others scaled by 1 / (1 - p); the
    identity in evaluation.  By default torch's own draws (F.dropout);
    `source`, a callable shape -> tensor of standard normals, gives the
    C runtime's draws instead, an element kept where its draw is at least
    `cut`, the p-quantile of N(0, 1) (runtime/dropout.h)."""

    def __init__(self, p, cut):
        super().__init__()
        self.p, self.cut = p, cut
        self.source = None

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if self.source is None:
            return F.dropout(x, self.p, True)
        z = self.source(tuple(x.shape)).to(x.dtype)
        cut = torch.tensor(self.cut, dtype=x.dtype)
        scale = torch.tensor(1 / (1 - self.p), dtype=x.dtype)
        return x * torch.where(z >= cut, scale, torch.zeros_like(scale))


class Add(nn.Module):
    """The end of a residual block: its main path plus its shortcut."""

    def forward(self, x, shortcut):
        return x + shortcut


class AdvccModule(nn.Module):
    """What every generated model shares: the ensemble of `passes` noisy
    forward passes (averaging logits, or with average_probs the log of the
    mean softmax, as runtime/infer.h), the noise switch, and checkpoints."""

    passes = 1
    average_probs = False

    def set_noise(self, enabled=True, generator=None):
        """Turns every noise layer on or off; generator fixes their draws."""
        for m in self.modules():
            if isinstance(m, Noise):
                m.enabled = enabled
                m.generator = generator
        return self

    def noisy(self):
        return any(isinstance(m, Noise) and m.enabled and m.sigma != 0 for m in self.modules())

    def forward(self, x):
        if self.passes <= 1 or not self.noisy():
            return self.forward_pass(x)
        outs = [self.forward_pass(x) for _ in range(self.passes)]
        if not self.average_probs:
            return torch.stack(outs).mean(0)
        logp = torch.stack([F.log_softmax(o, dim=1) for o in outs])
        return torch.logsumexp(logp, dim=0) - float(np.log(self.passes))

    def checkpoint_names(self):
        """The tensors an advcc checkpoint holds for this model."""
        return [n for n in self.state_dict() if not n.endswith("num_batches_tracked")]

    def load_checkpoint(self, path, strict=True):
        """Loads an advcc checkpoint (or any safetensors state dict with
        these names); training-only tensors of advcc (the spectral penalty's
        *.sn_u, *.sn_v) and num_batches_tracked are skipped.  Returns the
        file's metadata."""
        tensors, meta = read_safetensors(path)
        want = self.state_dict()
        names = set(self.checkpoint_names())
        skip = {n for n in tensors if n.endswith("num_batches_tracked") or _train_only(n)}
        missing = sorted(names - set(tensors))
        extra = sorted(set(tensors) - names - skip)
        if strict and (missing or extra):
            raise ValueError(f"{path}: tensors do not match model {MODEL_NAME}: "
                             f"missing {[(n, list(want[n].shape)) for n in missing]}, "
                             f"not in the model {[(n, list(tensors[n].shape)) for n in extra]}")
        with torch.no_grad():
            for n in names & set(tensors):
                a = tensors[n]
                if tuple(a.shape) != tuple(want[n].shape):
                    raise ValueError(f"{path}: tensor {n!r} has shape {list(a.shape)}, "
                                     f"model {MODEL_NAME} expects {list(want[n].shape)}")
                want[n].copy_(torch.from_numpy(np.array(a)))    # to the module's dtype
        return meta

    def save_checkpoint(self, path):
        """Writes the state dict as safetensors (float32, num_batches_tracked
        as I64), atomically: `advcc`'s binaries load it."""
        meta = {"format": "pt", "model": MODEL_NAME, "written_by": "advcc torch module"}
        write_safetensors(path, {n: t.detach().cpu().numpy() for n, t in self.state_dict().items()},
                          meta)


def _train_only(name):
    leaf = name.rsplit(".", 1)[-1]
    return leaf.startswith("sn") and (leaf.endswith("_u") or leaf.endswith("_v"))


_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
           "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    """(dict name -> ndarray, metadata dict) of a safetensors file, with the
    standard library and numpy only (BF16 is widened to float32)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: offset 0: shorter than the 8-byte header length")
    (n,) = struct.unpack_from("<Q", blob, 0)
    if 8 + n > len(blob):
        raise ValueError(f"{path}: offset 0: header length {n} runs past the end")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    data = memoryview(blob)[8 + n:]
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        if info["dtype"] == "BF16":
            raw = np.frombuffer(data[begin:end], dtype="<u2").astype(np.uint32) << 16
            out[name] = raw.view(np.float32).reshape(shape).copy()
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r}: unsupported dtype {info['dtype']}")
        out[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape).copy()
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """Writes dict name -> ndarray as safetensors (dtypes kept: float32,
    float64, float16, int64, ...), to a temporary name renamed at the end."""
    codes = {np.dtype(v): k for k, v in _DTYPES.items()}
    header, chunks, at = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(tensors):
        a = np.array(tensors[name], order="C")     # 0-d stays 0-d
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        raw = a.tobytes()
        header[name] = {"dtype": codes[np.dtype(a.dtype.str.replace(">", "<"))],
                        "shape": list(a.shape), "data_offsets": [at, at + len(raw)]}
        chunks.append(raw)
        at += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


# ---- the training recipe (docs/METHODS.md 1) -------------------------------
# TRAIN (below, per model) states the spec's optimiser, schedule and
# augmentation; these build them with torch.optim.

def make_optimizer(params, train):
    """torch.optim.SGD (dampening 0, Nesterov when set), Adam (L2 weight
    decay added to the gradient) or AdamW (decoupled decay)."""
    params = list(params)
    if train["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=train["lr"], momentum=train["momentum"],
                               nesterov=bool(train["nesterov"]),
                               weight_decay=train["weight_decay"])
    cls = torch.optim.Adam if train["optimizer"] == "adam" else torch.optim.AdamW
    return cls(params, lr=train["lr"], betas=(train["beta1"], train["beta2"]),
               eps=train["eps"], weight_decay=train["weight_decay"])


def lr_at(train, step, steps_per_epoch):
    """The learning rate of optimiser step `step` (0, 1, ...), as the
    runtime's schedule_lr (runtime/schedule.h) computes it."""
    lr, s, per = train["lr"], train["schedule"], steps_per_epoch
    epoch, kind = step // per, s["kind"]
    if kind == "multistep":
        for m in s["at"]:
            if epoch >= m:
                lr *= s["gamma"]
    elif kind == "cosine":
        lr = s["min_lr"] + (lr - s["min_lr"]) * (1 + np.cos(np.pi * epoch / train["epochs"])) / 2
    elif kind == "onecycle":
        start = train["lr"] / s["div"]
        end, total = start / s["final_div"], train["epochs"] * per
        peak, last = s["pct"] * total - 1, total - 1
        a, b, lo, hi = (start, train["lr"], 0, peak) if step <= peak else (train["lr"], end, peak, last)
        lr = (b - a) * ((step - lo) / (hi - lo) if hi > lo else 1) + a
    elif kind == "piecewise":
        lr *= float(np.interp(step / per, s["at"], s["factor"]))
    warm = s["warmup"] * per
    if step < warm:
        lr *= (step + 1) / warm
    return lr


def make_scheduler(opt, train, steps_per_epoch):
    """A LambdaLR giving step k the rate lr_at(train, k, steps_per_epoch);
    call its step() after every optimiser step."""
    base = train["lr"]
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: lr_at(train, k, steps_per_epoch) / base)


def augment(x, train, generator=None):
    """The training batch x [n][c][h][w] with the spec's augmentation: zero
    padding of train["crop"] pixels and a random crop back to h x w, then a
    horizontal flip with probability 1/2 when train["flip"] is set.  The
    same distribution as the runtime's (runtime/augment.h), from torch's
    generator rather than advcc's streams."""
    p, n, h, w = train["crop"], x.shape[0], x.shape[2], x.shape[3]
    if p:
        padded = F.pad(x, (p, p, p, p))
        top = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        left = torch.randint(0, 2 * p + 1, (n,), generator=generator)
        x = torch.stack([padded[i, :, top[i]:top[i] + h, left[i]:left[i] + w] for i in range(n)])
    if train["flip"]:
        mirror = torch.rand(n, generator=generator) < 0.5
        x = torch.where(mirror.view(n, 1, 1, 1), x.flip(3), x)
    return x
