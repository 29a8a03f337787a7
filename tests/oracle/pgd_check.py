"""pgd_check.py - PyTorch's verdict on the runtime's L-infinity PGD
(runtime/pgd.c, docs/METHODS.md 2), for oracle.py.

dump_model writes, for each attack, the iterates x_1 .. x_S of pgd_attack
(no random start, true labels, evaluation mode).  Here PyTorch repeats every
step from the runtime's own previous iterate x_{s-1} (x_0 = x):

    g   = grad of the summed cross-entropy at x_{s-1}, model in float64
    x_s = clip(clip(x_{s-1} + alpha sign(g), x - eps, x + eps), 0, 1)

with the positions in float32, rounded as the runtime stores them (float64
for a runtime built in double), so that while the two attacks agree they
stand on the same points and their gradients differ only by the model's
arithmetic (float32 against float64).
Every pixel of every step must then agree to 1e-6, except where the sign of
g is not settled by that arithmetic:

  - near zero: |g| < near_rel * max |g| of the image (rounding of g itself),
    or |g| < near_abs, twice the runtime's own input-gradient error measured
    at x (oracle.py): a sign within the runtime's demonstrated error is not
    settled (seen: a batch of 100 under OpenBLAS's Haswell kernel, input
    gradient 1.4e-6 of its largest off, a pixel at 1.01e-6 of its image's
    largest took the other sign);
  - a kink (ReLU: zero; DTReLU: its bounds lo and hi): a pre-activation
    within rounding of it (distance <= kink_rel * the largest distance of
    that layer and image; float32 gets such values to about 1e-6 of it)
    may be on one side in float32 and on the other in float64, and
    its derivative then changes g by far more than rounding (seen: the
    sign of pixels with |g| = 3e-2 max |g| flipped at a pre-activation of
    2e-9).  Such a step is accepted only when flipping the derivative of at
    most max_flips of those units makes PyTorch's step equal the runtime's
    on every pixel whose gradient is not near zero.

Anything else is a failure.  An image whose step once differed has left
PyTorch's own path from x (its later gradients are taken at other points),
so "final" counts the images whose whole path is PyTorch's from x; every
step of the others is still checked from the runtime's iterates.
"""
import itertools

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import torch_models

SAME = 1e-6     # |diff| below this: the same float32 pixel


def search_budget(images, steps=1):
    """Kinks that matter are rare (a few per hundred image steps); many
    images that differ mean a fault, not rounding, and are not searched."""
    return max(8, int(0.02 * images * steps))


class _GatedRelu(torch.autograd.Function):
    """(Leaky) ReLU's value with a given derivative: 1 where d is 1, the
    slope (ReLU: 0) where it is 0."""

    @staticmethod
    def forward(ctx, z, d, slope):
        ctx.save_for_backward(d)
        ctx.slope = slope
        return torch.relu(z) if slope == 0 else F.leaky_relu(z, slope)

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved_tensors
        if ctx.slope == 0:
            return grad * d, None, None
        return grad * (d + (1 - d) * ctx.slope), None, None


class KinkProbe:
    """Records, call by call, how far each unit's input is from its
    activation's kink (ReLU: |z|; DTReLU: the nearer of |z - lo|, |z - hi|)
    and can flip the derivative at chosen units (flips: one bool tensor per
    call, or None).  Activations call see(dist, d) with their derivative
    mask d and use the mask it returns; their values never change."""

    def __init__(self):
        self.inputs = []
        self.flips = None

    def see(self, dist, d):
        k = len(self.inputs)
        self.inputs.append(dist)
        if self.flips is not None:
            d = d ^ self.flips[k]
        return d


class ReluProbe(nn.Module):
    """ReLU (or leaky ReLU of a slope) whose derivative goes through a
    KinkProbe."""

    def __init__(self, probe, slope=0.0):
        super().__init__()
        self.probe = probe
        self.slope = slope

    def forward(self, z):
        d = self.probe.see(z.detach().abs(), (z > 0).detach())
        return _GatedRelu.apply(z, d.to(z.dtype), self.slope)


def install_probe(model):
    """Puts one shared KinkProbe on every activation of model: each nn.ReLU
    is replaced by a ReluProbe, each DTReLU watched through its probe
    hook."""
    probe = KinkProbe()
    found = False
    for parent in list(model.modules()):
        if isinstance(parent, torch_models.DTReLU):
            parent.probe = probe
            found = True
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(parent, name, ReluProbe(probe))
                found = True
            elif isinstance(child, nn.LeakyReLU):
                setattr(parent, name, ReluProbe(probe, child.negative_slope))
                found = True
    if not found:
        raise ValueError("model has no ReLU or DTReLU to watch for kinks")
    return probe


class EvalModel:
    """A model in evaluation mode from the dumped parameters, its constants
    those of a runtime in real (np.float32 or np.float64)."""

    def __init__(self, name, params, dtype=torch.float64, probe=True, real=np.float32):
        self.model = torch_models.build(name).to(dtype)
        torch_models.set_real(self.model, real)
        torch_models.load_arrays(self.model, params)
        self.model.eval()
        self.dtype = dtype
        self.probe = install_probe(self.model) if probe else None

    def grad(self, v, y, flips=None):
        """(input gradient of the summed cross-entropy, that loss, the ReLU
        inputs of each call)."""
        if self.probe:
            self.probe.inputs, self.probe.flips = [], flips
        v = v.detach().to(self.dtype, copy=True).requires_grad_(True)
        loss = F.cross_entropy(self.model(v), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, v)
        zs = self.probe.inputs if self.probe else []
        if self.probe:
            self.probe.inputs, self.probe.flips = [], None
        return g, loss.item(), zs


def linf_step(cur, g, x, eps, alpha):
    """One step from positions cur (float32, or float64 for a runtime built
    in double), as runtime/pgd.c rounds it."""
    a = torch.tensor(alpha, dtype=cur.dtype)
    e = torch.tensor(eps, dtype=cur.dtype)
    nxt = cur + a * torch.sign(g).to(cur.dtype)
    nxt = torch.minimum(torch.maximum(nxt, x - e), x + e)
    return nxt.clamp(0.0, 1.0)


def near_zero(g, opts):
    """Entries of g below opts["near_rel"] times the largest |g| of their
    image, or below opts["near_abs"] (0 when absent)."""
    a = g.abs()
    top = a.reshape(a.shape[0], -1).max(dim=1).values
    rel = opts["near_rel"] * top.view(-1, *([1] * (g.dim() - 1)))
    return (a < rel) | (a < opts.get("near_abs", 0.0))


def kink_units(zs, rel, limit, images=None):
    """[(call, flat index)] of the units whose ReLU input lies within rel of
    zero (relative to that call's largest |z|), closest first, at most
    limit.  images: only those images of each call's zs [batch, ...] (the
    distance still relative to the whole call's largest |z|)."""
    found = []
    for k, z in enumerate(zs):
        a = z.abs()
        top = float(a.max()) if a.numel() else 0.0
        if top == 0.0:
            continue
        per = a[0].numel() if images is not None else 0
        for img in images if images is not None else [None]:
            r = (a if img is None else a[img]).flatten() / top
            at = 0 if img is None else img * per
            for i in torch.nonzero(r <= rel).flatten().tolist():
                found.append((float(r[i]), k, at + i))
    found.sort()
    return [(k, i) for _, k, i in found[:limit]]


def search_kinks(model, xb, yb, zs, accept, opts):
    """The smallest set of near-kink units of one image (xb [1,c,h,w], its
    ReLU inputs zs, [1, ...] each) whose flipped derivatives give an input
    gradient that accept(gradients [rows,c,h,w]) -> bool [rows] takes:
    (units, that gradient [1,c,h,w]), or None."""
    units = kink_units(zs, opts["kink_rel"], opts["max_units"])
    for size in range(1, min(opts["max_flips"], len(units)) + 1):
        sets = list(itertools.combinations(units, size))
        rows = len(sets)
        flips = [torch.zeros((rows,) + tuple(z.shape[1:]), dtype=torch.bool) for z in zs]
        for r, s in enumerate(sets):
            for k, i in s:
                flips[k][r].view(-1)[i] = True
        g, _, _ = model.grad(xb.expand(rows, -1, -1, -1), yb.expand(rows), flips)
        ok = torch.nonzero(accept(g)).flatten()
        if len(ok):
            r = int(ok[0])
            return sets[r], g[r:r + 1]
    return None


def explain_step(model, xb, yb, xc, target, near_b, zs, eps, alpha, opts):
    """search_kinks for a step from xb that lands on target (the runtime's)
    at every pixel whose gradient is not near zero; the units or None."""
    def accept(g):
        step = linf_step(xb.expand(len(g), -1, -1, -1), g, xc, eps, alpha)
        judged = ~(near_b | near_zero(g, opts))
        same = ((step.double() - target.double()).abs() < SAME) | ~judged
        return same.reshape(len(g), -1).all(dim=1)
    found = search_kinks(model, xb, yb, zs, accept, opts)
    return found[0] if found else None


def check_gradient(model, x, y, dx, tol, opts, pos=np.float32):
    """The runtime's input gradient dx of the summed cross-entropy at x
    against PyTorch's, error max |dx - g| / max |g|.  An image off by more
    than tol is judged again with the derivative of near-kink units flipped
    (at most max_flips of them).  Returns (error as computed, error after
    those flips, units flipped, images concerned, g, PyTorch's loss).
    pos: the runtime's real type, that of its images."""
    x32 = torch.from_numpy(np.ascontiguousarray(x, dtype=pos))
    c = torch.from_numpy(np.asarray(dx, dtype=np.float64))
    g, loss, zs = model.grad(x32, y)
    scale = float(g.abs().max())
    raw = float((c - g).abs().max()) / scale
    best = g.clone()
    units = images = searches = 0
    for b in range(len(x)):
        if float((c[b] - g[b]).abs().max()) / scale <= tol:
            continue
        if searches == search_budget(len(x)):
            break
        searches += 1
        sl = slice(b, b + 1)
        found = search_kinks(model, x32[sl], y[sl], [z[sl] for z in zs],
                             lambda h: (c[sl] - h).abs().reshape(len(h), -1).max(dim=1).values
                             / scale <= tol, opts)
        if found:
            best[b] = found[1][0]
            units += len(found[0])
            images += 1
    return raw, float((c - best).abs().max()) / scale, units, images, g, loss


def check_attack(model, x, y, path, eps, alpha, opts, pos=np.float32):
    """Checks the runtime's iterates path[S][n][c][h][w] of one attack from
    images x (float32 [n][c][h][w]) with labels y.  Returns a dict of
    counts: pixel steps excused as near zero ("near", of which "near_differ"
    differed) or at kinks ("kink", by flipping "kink_units" units), those
    that differ otherwise ("unexplained", by up to "unexplained_max";
    "unsearched" images of them were past the search budget), the
    largest difference of the agreeing ones ("max_diff"), the step at which
    each image left PyTorch's path ("parted"), the loss at each iterate,
    and "final": PyTorch's last step from the runtime's x_{S-1}.  pos: the
    runtime's real type, in which its positions are rounded."""
    res = {"steps": len(path), "images": x.shape[0], "pixels": x[0].size,
           "near": 0, "near_differ": 0, "kink": 0, "kink_units": 0,
           "unexplained": 0, "unexplained_max": 0.0, "max_diff": 0.0, "parted": {},
           "loss": [], "unsearched": 0}
    budget = search_budget(len(x), len(path))
    searches = 0
    x32 = torch.from_numpy(np.ascontiguousarray(x, dtype=pos))
    prev = x32
    for s in range(len(path)):
        g, loss, zs = model.grad(prev, y)
        res["loss"].append(loss)
        near = near_zero(g, opts)
        ref = linf_step(prev, g, x32, eps, alpha)
        cur = torch.from_numpy(np.ascontiguousarray(path[s], dtype=pos))
        diff = (ref.double() - cur.double()).abs()
        differ = diff >= SAME
        if (~differ).any():
            res["max_diff"] = max(res["max_diff"], float(diff[~differ].max()))
        res["near"] += int(near.sum())
        res["near_differ"] += int((differ & near).sum())
        for b in torch.nonzero((differ & ~near).reshape(len(x), -1).any(dim=1)).flatten().tolist():
            bad = differ[b] & ~near[b]
            count = int(bad.sum())
            flipped = None
            if searches == budget:
                res["unsearched"] += 1
            else:
                searches += 1
                sl = slice(b, b + 1)
                flipped = explain_step(model, prev[sl], y[sl], x32[sl], cur[sl], near[sl],
                                       [z[sl] for z in zs], eps, alpha, opts)
            if flipped is None:
                res["unexplained"] += count
                res["unexplained_max"] = max(res["unexplained_max"], float(diff[b][bad].max()))
            else:
                res["kink"] += count
                res["kink_units"] += len(flipped)
        for b in torch.nonzero(differ.reshape(len(x), -1).any(dim=1)).flatten().tolist():
            res["parted"].setdefault(b, s + 1)
        prev = cur
    res["final"] = ref.numpy()  # PyTorch's step from the runtime's x_{S-1}
    g, loss, _ = model.grad(prev, y)
    res["loss"].append(loss)
    return res
