"""specgen_check.py - compare what a generated model's dumper wrote
(tests/oracle/dump_model.c, through tests/specgen/specgen_dump.c) with the PyTorch
twin that specgen_twin.py builds from the spec's JSON layer list.

Checked, against PyTorch in float64 from the same starting tensors and
batch (the dumper is the double build, so both sides compute in double):

  tensors              the dump holds exactly the tensors (names, shapes)
                       the spec gives the model
  logits, loss         training-mode forward (batch statistics)
  grad <tensor>        every trained tensor's gradient of the mean
                       cross-entropy; dx, its input gradient
  stats <tensor>       running statistics after that forward; trained
                       tensors unchanged (exactly)
  reg ...              the regularisers' terms, their gradient alone and
                       added to the step's, the power iteration's u, v
  frozen ...           frozen training mode: logits; nothing moves
  eval ...             evaluation mode: logits, loss, input gradient
  sgd<k> ...           every tensor after k optimiser steps from the start
                       (the spec's optimiser, torch.optim's, at its
                       schedule's rates from PyTorch's schedulers, momentum,
                       weight decay, regulariser), their losses
  pgd loss, pgd dx     evaluation mode after two training forwards: the
                       attack's loss and input gradient (an ensemble of
                       noisy passes averaged as the spec says)
  noise draws          every dumped draw used, no more (noise layers, and
                       dropout's masks in training passes)

Error measure as oracle.py's: max |c - ref| / max |ref|; a bias whose true
gradient is zero (a batchnorm follows) against its weight's gradient; SGD
results through the update p_k - p_0.  Tolerance 1e-4 (oracle.py's).
"""
import json
import os
import warnings

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from specgen_twin import NoiseFeed, Twin  # noqa: E402
from safetensors_np import read_safetensors  # noqa: E402
from oracle import reference_lrs  # noqa: E402

TOL = 1e-4
STATS_FLOOR = 1e-6
ABS_FLOOR = 1e-9       # a tensor this small is compared absolutely
ZERO_GRAD = 1e-8       # a gradient this far below the model's largest counts as 0     # running statistics smaller than this count as 0
PASSES = ("train", "frozen", "eval", "sgd1", "sgd2")


class Result:
    def __init__(self, tol=TOL):
        self.tol = tol
        self.lines = []
        self.failed = 0
        self.passed = 0
        self.degenerate = []
        self.ties = []

    def record(self, label, err, note=""):
        ok = bool(np.isfinite(err)) and err <= self.tol
        self.check(label, ok, f"max rel err {err:.2e}{note}")

    def check(self, label, ok, text):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        self.lines.append(f"  {'ok  ' if ok else 'FAIL'} {label:<34} {text}")

    def exact(self, label, a, b):
        same = a.shape == b.shape and np.array_equal(a, b)
        err = 0.0 if same else (float(np.max(np.abs(a - b))) if a.shape == b.shape
                                else float("inf"))
        self.check(label, same, f"max abs change {err:.2e}")


def np64(t):
    return t.detach().double().numpy().copy()


def max_abs(a):
    a = np.asarray(a, dtype=np.float64)
    return float(np.max(np.abs(a))) if a.size else 0.0


def grad_or_zero(t):
    return np64(t.grad) if t.grad is not None else np.zeros(tuple(t.shape))


def check(spec, d, res=None):
    """Checks the dump in directory d against spec's twin; a Result."""
    res = res or Result()
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)

    def load(name):
        return read_safetensors(os.path.join(d, name))[0]

    def npy(name):
        return np.load(os.path.join(d, name)).astype(np.float64)

    init = load("init.safetensors")
    probe = Twin(spec, _zeros_like_spec(spec))
    want = {n: tuple(s) for n, s, _ in probe.tensors}
    have = {n: tuple(a.shape) for n, a in init.items()}
    kinds_meta = {t["name"]: t["kind"] for t in meta["tensors"]}
    kinds_twin = {n: k for n, _, k in probe.tensors}
    if want != have or kinds_meta != kinds_twin:
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        shapes = sorted(n for n in set(want) & set(have) if want[n] != have[n])
        kinds = sorted(n for n in set(kinds_meta) & set(kinds_twin)
                       if kinds_meta[n] != kinds_twin[n])
        res.check("tensors", False, f"missing {missing}, unexpected {extra}, "
                  f"shapes differ {shapes}, kinds differ {kinds}")
        return res
    res.check("tensors", True, f"{len(want)} as the spec says")
    x = torch.tensor(np.load(os.path.join(d, "x.npy")), dtype=torch.float64)
    y = torch.tensor(np.load(os.path.join(d, "labels.npy")).astype(np.int64))
    noisy = os.path.exists(os.path.join(d, "noise_train.npy"))
    # a pass that drew nothing (dropout outside training) wrote no file
    noise = {p: np.load(os.path.join(d, f"noise_{p}.npy"))
             if os.path.exists(os.path.join(d, f"noise_{p}.npy")) else np.zeros(0)
             for p in PASSES} if noisy else None
    used = {}

    def feed(tw, tag):
        if noise is not None:
            tw.noise = NoiseFeed(noise[tag])
            used[tag] = tw.noise

    tw = Twin(spec, init)
    trained, state = tw.trained(), tw.state()
    cancelled = tw.cancelled_biases()
    ref, got = {}, {}

    feed(tw, "train")
    xt = x.clone().requires_grad_(True)
    logits = tw.forward(xt, "train")
    loss = F.cross_entropy(logits, y)
    loss.backward()
    ref["logits"], ref["loss"], ref["dx"] = np64(logits), loss.item(), np64(xt.grad)
    for n in trained:
        ref[f"grad {n}"] = grad_or_zero(tw.p[n])
    for n in state:
        ref[f"stats {n}"] = np64(tw.p[n])
    grads, after = load("grads.safetensors"), load("after.safetensors")
    got.update({"logits": npy("logits.npy"), "loss": meta["loss"], "dx": npy("dx.npy")})
    for n in trained:
        got[f"grad {n}"] = grads[n]
    for n in state:
        got[f"stats {n}"] = after[n]

    if tw.terms:
        total, terms, nxt = tw.regularize()
        ws = sorted({f"{t[2]}.weight" for t in tw.terms})
        rg = torch.autograd.grad(total, [tw.p[n] for n in ws], allow_unused=True) \
            if isinstance(total, torch.Tensor) and total.requires_grad else [None] * len(ws)
        rg = [g if g is not None else torch.zeros_like(tw.p[n]) for n, g in zip(ws, rg)]
        for t, v in terms.items():
            ref[f"reg {t}"] = v
        ref["reg total"] = sum(terms.values())
        for n, g in zip(ws, rg):
            ref[f"reg grad {n}"] = np64(g)
            ref[f"step grad {n}"] = np64(tw.p[n].grad + g)
        for n, t in nxt.items():
            ref[f"reg state {n}"] = np64(t)
        reg = meta.get("reg")
        if reg is None or set(reg["terms"]) != set(terms):
            res.check("reg terms", False, f"runtime {None if reg is None else sorted(reg['terms'])}, "
                      f"spec {sorted(terms)}")
        else:
            for t in terms:
                got[f"reg {t}"] = reg["terms"][t]
            got["reg total"] = reg["total"]
            only, step, moved = load("reg_only.safetensors"), load("reg_grads.safetensors"), \
                load("reg_after.safetensors")
            for n in ws:
                got[f"reg grad {n}"] = only[n]
                got[f"step grad {n}"] = step[n]
            for n in nxt:
                got[f"reg state {n}"] = moved[n]
    elif "reg" in meta:
        res.check("reg terms", False, f"runtime {sorted(meta['reg']['terms'])}, spec none")

    # frozen and evaluation modes, from the state after the training forward
    feed(tw, "frozen")
    with torch.no_grad():
        ref["frozen logits"] = np64(tw.forward(x, "frozen"))
    got["frozen logits"] = npy("frozen_logits.npy")
    feed(tw, "eval")
    xt = x.clone().requires_grad_(True)
    el = tw.forward(xt, "eval")
    eloss = F.cross_entropy(el, y)
    (edx,) = torch.autograd.grad(eloss, xt)
    ref["eval logits"], ref["eval loss"], ref["eval dx"] = np64(el), eloss.item(), np64(edx)
    got.update({"eval logits": npy("eval_logits.npy"), "eval loss": meta["eval_loss"],
                "eval dx": npy("eval_dx.npy")})

    # The optimiser from init, two steps, the regulariser between backward
    # and update, each at its schedule's rate (one step an epoch, as dumped)
    sgd = meta["sgd"]
    tw2 = Twin(spec, init)
    rates = recipe_rates(tw2.train_cfg, sgd["steps"], sgd["schedule"]["steps_per_epoch"])
    opt = make_optimizer([tw2.p[n] for n in trained], tw2.train_cfg) if trained else None
    for k in (1, 2):
        feed(tw2, f"sgd{k}")
        for n in trained:
            if tw2.p[n].grad is None:
                tw2.p[n].grad = torch.zeros_like(tw2.p[n])
        for n in trained:
            tw2.p[n].grad.zero_()
        out = tw2.forward(x, "train")
        sl = F.cross_entropy(out, y)
        if sl.requires_grad:
            sl.backward()
        ref[f"sgd{k} loss"] = sl.item()
        got[f"sgd{k} loss"] = sgd["losses"][k - 1]
        if tw2.terms:
            total, terms, nxt = tw2.regularize()
            if isinstance(total, torch.Tensor) and total.requires_grad:
                total.backward()
            tw2.commit(nxt)
            ref[f"sgd{k} reg"] = sum(terms.values())
            if "reg" in meta:
                got[f"sgd{k} reg"] = meta["reg"]["sgd"][k - 1]
        if opt is not None:
            opt.param_groups[0]["lr"] = rates[k - 1]
            opt.step()
        p = load(f"sgd{k}.safetensors")
        for n in trained + state:
            ref[f"sgd{k} {n}"] = np64(tw2.p[n])
            got[f"sgd{k} {n}"] = p[n]

    def compare(label):
        if label not in got:
            return
        c = np.asarray(got[label], dtype=np.float64)
        r = np.asarray(ref[label], dtype=np.float64)
        if c.shape != r.shape:
            res.check(label, False, f"shape {list(c.shape)}, PyTorch {list(r.shape)}")
            return
        kind, _, n = label.partition(" ")
        note = ""
        if kind == "grad" and n in cancelled:
            scale = max_abs(ref[f"grad {cancelled[n]}"])
            note = f" (true gradient 0: of max|grad {cancelled[n]}|)"
        elif kind.startswith("sgd") and n in kinds_twin and kinds_twin[n] != "state":
            base = cancelled.get(n, n)
            scale = max_abs(ref[f"{kind} {base}"] - init[base])
            note = " (of the update)"
        elif kind == "stats" or kind.startswith("sgd") and n in kinds_twin:
            # running statistics: a mean of values whose true batch mean is
            # 0 (a batchnorm's output) is rounding noise on both sides
            scale = max(max_abs(r), STATS_FLOOR)
        else:
            scale = max_abs(r)
        if kind == "grad" and scale < ZERO_GRAD * top_grad or \
                kind.startswith("sgd") and note and scale < ZERO_GRAD * top_update[kind]:
            # a gradient that is 0 up to rounding (a threshold all inputs
            # sit beyond, whose output a batchnorm then centres): both
            # sides hold rounding noise; judged on the model's largest
            top = top_grad if kind == "grad" else top_update[kind]
            note += f" (true value 0: of the model's largest {max(scale, top):.1e})"
            scale = max(scale, top)
        if scale < ABS_FLOOR:
            # all but 0 (logits of a batchnorm fed a constant): PyTorch's
            # batch mean leaves rounding noise where the runtime has 0
            note += f" (below {ABS_FLOOR:g}: absolute)"
            scale = ABS_FLOOR
        err = max_abs(c - r)
        res.record(label, err / scale if scale else err, note)

    top_grad = max(max_abs(ref[f"grad {n}"]) for n in trained) if trained else 0.0
    top_update = {f"sgd{k}": max(max_abs(ref[f"sgd{k} {n}"] - init[n]) for n in trained)
                  if trained else 0.0 for k in (1, 2)}
    order = ["logits", "loss"] + [f"grad {n}" for n in trained] + ["dx"] + \
        [f"stats {n}" for n in state]
    order += [k for k in ref if k.startswith(("reg ", "step grad "))]
    order += ["frozen logits", "eval logits", "eval loss", "eval dx"]
    order += [k for k in ref if k.startswith("sgd")]
    for label in order:
        compare(label)
    res.exact("forward moves no trained tensor",
              np.concatenate([after[n].ravel() for n in trained] + [np.zeros(0)]),
              np.concatenate([init[n].ravel() for n in trained] + [np.zeros(0)]))
    frozen = load("frozen.safetensors")
    res.exact("frozen forward moves nothing",
              np.concatenate([frozen[n].ravel() for n in frozen] + [np.zeros(0)]),
              np.concatenate([after[n].ravel() for n in frozen] + [np.zeros(0)]))
    res.degenerate = sorted(tw.degenerate | tw2.degenerate)
    res.ties = sorted(tw.ties | tw2.ties)
    check_pgd(spec, d, meta, x, y, os.path.exists(os.path.join(d, "noise_pgd.npy")), res)
    if noise is not None:
        counts = [f"{p} {used[p].used}/{noise[p].size}" for p in PASSES if p in used]
        res.check("noise draws replayed", all(used[p].used == noise[p].size for p in used),
                  "used/dumped: " + ", ".join(counts))
    return res


def make_optimizer(params, t):
    """torch.optim's optimiser of the spec's recipe t (specgen_twin's train
    dict)."""
    if t["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=t["lr"], momentum=t["momentum"],
                               nesterov=bool(t["nesterov"]), weight_decay=t["weight_decay"])
    cls = torch.optim.Adam if t["optimizer"] == "adam" else torch.optim.AdamW
    return cls(params, lr=t["lr"], betas=(t["beta1"], t["beta2"]), eps=t["eps"],
               weight_decay=t["weight_decay"])


def recipe_rates(t, steps, per_epoch):
    """The rate of each of the first `steps` steps by the spec's schedule,
    from PyTorch's own schedulers (oracle.reference_lrs)."""
    sched = {"kind": t["schedule"], "at": t["at"], "factor": t["factor"], "gamma": t["gamma"],
             "min_lr": t["min_lr"], "pct": t["pct"], "div": t["div"],
             "final_div": t["final_div"], "warmup": t["warmup"], "epochs": t["epochs"],
             "steps_per_epoch": per_epoch}
    with warnings.catch_warnings():     # the schedulers stepped without an optimiser step
        warnings.simplefilter("ignore", UserWarning)
        return reference_lrs({"lr": t["lr"], "steps": steps, "schedule": sched})


def _zeros_like_spec(spec):
    """Zero values for every tensor the spec gives (to list them)."""
    from specgen_twin import tensors, validate
    layers, regs, _, _ = validate(spec)
    return {n: np.zeros(s) for n, s, _ in tensors(layers, regs)}


def check_pgd(spec, d, meta, x, y, noisy, res):
    """The attack's loss and input gradient in evaluation mode: the summed
    cross-entropy of one pass, or of the ensemble's average of noisy
    passes (logits, or log of the mean probability)."""
    params = read_safetensors(os.path.join(d, "pgd.safetensors"))[0]
    tw = Twin(spec, params)
    n_ens, probs = tw.ensemble
    passes = n_ens if noisy else 1
    feed = None
    if noisy:
        feed = NoiseFeed(np.load(os.path.join(d, "noise_pgd.npy")))
        tw.noise = feed
    xt = x.clone().requires_grad_(True)
    outs = torch.stack([tw.forward(xt, "eval") for _ in range(passes)])
    if probs:
        comb = torch.logsumexp(F.log_softmax(outs, dim=2), dim=0) - float(np.log(passes))
    else:
        comb = outs.mean(dim=0)
    loss = F.cross_entropy(comb, y, reduction="sum")
    (g,) = torch.autograd.grad(loss, xt)
    ref_loss = loss.item() / len(x)
    res.record("pgd loss", abs(meta["pgd"]["loss"] - ref_loss) / abs(ref_loss),
               f" ({passes} pass{'es' if passes > 1 else ''})")
    c = np.load(os.path.join(d, "pgd_dx.npy")).astype(np.float64)
    r = np64(g)
    res.record("pgd dx", max_abs(c - r) / max_abs(r) if max_abs(r) else max_abs(c))
    if feed is not None:
        n = np.load(os.path.join(d, "noise_pgd.npy")).size
        res.check("pgd noise draws replayed", feed.used == n, f"used {feed.used} of {n}")
