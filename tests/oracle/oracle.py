"""oracle.py - check a generated model against PyTorch, tensor by tensor.

Usage: /usr/bin/python3 tests/oracle/oracle.py [--tol 1e-4] DIR...

Each DIR is written by the model's dump_model binary (tests/oracle/dump_model.c):
the initial parameters, a batch, and what the C code computed from them.  This
script builds the same model in PyTorch (torch_models.py), loads the same
parameters, repeats every computation and compares:

  logits, loss         training-mode forward (batch statistics)
  grad <tensor>        every parameter gradient of the mean cross-entropy
  dx                   the input gradient
  stats <tensor>       running statistics after that forward (momentum 0.1,
                       unbiased variance); trained tensors must not move
  reg <term>, total    a model with a regulariser (docs/METHODS.md 5): each term
                       (weight times penalty) on the step's weights
  reg grad <weight>    the regulariser's own gradient (spectral terms with
                       u, v held constant, as the C code takes them)
  step grad <weight>   the training step's gradient, cross-entropy's plus
                       the regulariser's; other gradients must not change
  reg state <u or v>   the power iteration's vectors after the step; nothing
                       else may move
  frozen ...           frozen-training forward: same logits, nothing moves
  eval ...             evaluation-mode logits, loss and input gradient, from
                       the running statistics the runtime's forward left
  sgd<k> ...           SGD step k (k = 1, 2) from the state the runtime
                       stood in before it (init, then its own parameters,
                       running statistics and velocity after step 1): the
                       loss, the step's gradient (regulariser included),
                       the velocity (torch.optim.SGD: buf = momentum*buf +
                       grad + wd*p), the parameters (p -= lr*buf; every
                       trained tensor, as runtime/sgd.c), running
                       statistics, and sgd<k> reg, the regulariser's value
  pgd loss, pgd dx     evaluation mode, running statistics moved by two
                       training forwards: the loss and the input gradient of
                       the summed cross-entropy at x (runtime/infer.c); an
                       image off by more than --tol is judged again with
                       the derivatives of activations within rounding of
                       their kinks flipped (pgd_check.py)
  pgd <eps> <k> steps  every step of the L-infinity PGD, pixel by pixel, from
                       the runtime's own iterates; pixels whose gradient sign
                       rounding leaves open are excused and counted, and must
                       stay below --pgd-share of all (pgd_check.py)
  pgd <eps> final      the attack's images against PyTorch's PGD from x, for
                       the images whose every step agreed

A model with noise layers (RSE) is replayed with the runtime's own draws,
dumped pass by pass; its attack gradient (pgd loss, pgd dx) is that of the
average of its passes, settled at kinks as a training step is (below: each
pass has its own activation calls), and its attacks are not checked.

Every check starts both sides from the same numbers: the step's
comparisons measure that step's float32 arithmetic and nothing before it.
(Comparing step 2 after two independent runs from init let the float32
rounding of step 1 move step 2's units across ReLU kinks, and its result
then depended on the BLAS kernel: an AVX-512 sgemm failed where an AVX2 one
passed.)  The one thing float32 arithmetic cannot settle in a step is the
side of a kink for a unit whose input is within its rounding of zero (or of
a DTReLU bound): its derivative is 0 on one side and 1 on the other.  When
a step fails, the smallest set (at most 3) of its 8 units nearest a kink
(within 1e-5 of their activation call's largest input) whose flipped
derivatives make every comparison of the step pass is taken, and the units
are printed on each line that needed them (settle_step, pgd_check's
probe).  When at most 4 images' input gradients are off, the 8 units
nearest a kink among those images are tried first: at a batch of 100 more
than 8 units of other images can lie nearer their kinks than the ones that
flipped (seed 63 under OpenBLAS's Haswell kernel: a unit of the second and
one of the third activation, at 2.4e-6 and 2.9e-6 of their calls' largest
inputs, moved every gradient below the third convolution).  Such a flip
cannot hide a wrong rule: BatchNorm's backward off by 1e-3, momentum off by
1e-3, a pool gradient scaled by 0.999, a DTReLU bound's gradient with its
sign flipped or a dropped weight-decay term move whole tensors, and
tests/oracle/mutants.sh asserts that each of them fails.

The reference is PyTorch in float64, from the same float32 parameters and
images: PyTorch's own float32 result is no oracle at this tolerance (on one
batch of 100 CIFAR-10 images, seed 5, its dx was off by 3e-2 and bn3.bias's
gradient by 6e-3 against float64, through BatchNorm's backward sums, while
the C code, which sums in double, stayed below 1e-6).  Each line also shows
PyTorch float32's error against the same reference, for scale.

Quantised models (docs/METHODS.md 4) are compared with the runtime built in
double (meta.json's real_bytes is 8; see dump_model.c): their activations are
rounded onto a grid, and float32 puts a few values on the other side of a
rounding tie from float64, each flip a whole grid step (on the seed CNN's
batch of 8, one flip in the second block became 14 differing outputs of the
third and 8 of the second linear layer; the logits moved by 2e-2 of their
largest, PyTorch float32's by 3e-2).  Against a float32 runtime the
reference still takes the runtime's grid index for weights whose scaled
value is within 1e-5 of a .5 boundary (WeightTies), and counts them.

Error measure (printed per tensor): max |c - ref| / max |ref|, the largest
elementwise error relative to the tensor's largest magnitude.  Exceptions:
  - a conv bias followed by a training-mode BatchNorm has a true gradient of
    zero (the BatchNorm subtracts the batch mean), so both sides hold
    rounding noise: its error is max |c - ref| / max |grad of that conv's
    weight|, an absolute tolerance on the scale of the layer's gradients.
  - parameters after an SGD step are compared through its update
    d = p_k - p_(k-1): error = (max |c - ref| - 1 ulp) / max |d_ref|, where
    the ulp (of the tensor's largest parameter in the runtime's real type)
    allows for the rounding of storing p; the line shows how large that
    allowance is against the update.  The velocity, which no such rounding
    touches, is compared on its own scale, so a wrong momentum or weight
    decay fails there even where one ulp of p is a large part of the
    update.  A conv bias before BatchNorm is judged against its conv
    weight's update (and velocity).
  - scalars (the losses, the regulariser's terms): |c - ref| / |ref|.
A tensor passes when its error is at most --tol.  The last line is
`N passed, N failed`; the exit status is 1 when anything failed.
"""
import argparse
import itertools
import json
import os
import sys

# OpenMP threads that spin while waiting made every PyTorch call here ten
# times slower on a loaded two-core machine; they must sleep.  (Read when
# torch loads its OpenMP runtime.)
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgd_check  # noqa: E402
import torch_models  # noqa: E402
from safetensors_np import read_safetensors  # noqa: E402


class Tally:
    def __init__(self, tol):
        self.tol = tol
        self.passed = 0
        self.failed = 0

    def record(self, label, err, note=""):
        ok = bool(np.isfinite(err)) and err <= self.tol
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"  {'ok  ' if ok else 'FAIL'} {label:<30} max rel err {err:.2e}{note}")
        return ok

    def check(self, label, ok, text):
        """A verdict reached elsewhere, with its own line of numbers."""
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"  {'ok  ' if ok else 'FAIL'} {label:<30} {text}")
        return ok

    def exact(self, label, c, ref):
        """Bitwise equality of float32 tensors that must not change."""
        same = c.shape == ref.shape and np.array_equal(c, ref)
        err = 0.0 if same else (float(np.max(np.abs(c.astype(np.float64) - ref)))
                                if c.shape == ref.shape else float("inf"))
        if same:
            self.passed += 1
        else:
            self.failed += 1
        print(f"  {'ok  ' if same else 'FAIL'} {label:<30} max abs change {err:.2e}")
        return same


def np64(t):
    """A float64 copy (for a float64 tensor, .numpy() would share its memory,
    and later passes accumulate into .grad)."""
    return t.detach().cpu().double().numpy().copy()


def train_forward_backward(model, x, y):
    """Forward in training mode, mean cross-entropy, backward; returns
    (logits, loss, dx)."""
    model.train()
    xt = x.clone().requires_grad_(True)
    logits = model(xt)
    loss = F.cross_entropy(logits, y)
    model.zero_grad(set_to_none=True)
    loss.backward()
    return logits, loss, xt.grad


class WeightTies:
    """Grid-index hook (torch_models.FakeQuantMinMax) of a float64 reference
    for a runtime that computes in float32.  The runtime takes each weight's
    grid index from (w - lo) / s in float32; where a value lies within
    rounding of a .5 boundary, float64 may round it the other way, a whole
    grid step.  The runtime's index is computed here as runtime/quant.h
    does it (a float32 oracle of its formula gets the same bits); where it
    differs from float64's and float64's scaled value is within 1e-5 of the
    boundary (wider where float32's own error bound, 2.4e-7 of the value,
    is), the reference takes the runtime's index and the weight is counted
    as a tie; any other difference is counted as unexplained and keeps the
    reference's index."""

    def __init__(self):
        self.weights = 0
        self.ties = 0
        self.unexplained = 0

    def __call__(self, w, lo, s, top):
        j = torch_models.grid_index(w, lo, s, top)
        self.weights += w.numel()
        w32 = w.to(torch.float32)
        lo32, hi32 = w32.min(), w32.max()
        j32 = torch_models.grid_index(w32, lo32, (hi32 - lo32) / top, top).to(w.dtype)
        differ = j32 != j
        if bool(differ.any()):
            v = torch_models.grid_scaled(w, lo, s, top)
            gap = (v - torch.floor(v) - 0.5).abs()
            tie = differ & (gap <= torch.clamp(2.4e-7 * v, min=1e-5))
            self.ties += int(tie.sum())
            self.unexplained += int((differ & ~tie).sum())
            j = torch.where(tie, j32, j)
        return j


class NoiseFeed:
    """The runtime's standard normal draws of one forward pass, handed to
    the noise and dropout layers in the order they were drawn.  The layers
    draw over their input in the runtime's layout: CNHW for an image
    (torch's is NCHW), rows for flat features."""

    def __init__(self, draws):
        self.draws = torch.from_numpy(np.asarray(draws, dtype=np.float64))
        self.used = 0

    def __call__(self, shape):
        n = int(np.prod(shape))
        if self.used + n > len(self.draws):
            raise ValueError(f"noise: the pass wants more than the {len(self.draws)} draws dumped")
        xi = self.draws[self.used:self.used + n]
        self.used += n
        if len(shape) == 2:
            return xi.view(shape)
        b, c = shape[0], shape[1]
        return xi.view(c, b, *shape[2:]).transpose(0, 1)


RANDOM_LAYERS = (torch_models.Noise, torch_models.Dropout)


def feed_noise(model, noise, tag, used):
    """Points model's noise and dropout layers at the draws of pass `tag`;
    records in used[tag] the feed, to count what the pass took."""
    if noise is None:
        return
    feed = NoiseFeed(noise[tag])
    used[tag] = feed
    for m in model.modules():
        if isinstance(m, RANDOM_LAYERS):
            m.source = feed


def install_ties(model, ties):
    for m in model.modules():
        if isinstance(m, torch_models.QuantLayer):
            m.index_hook = ties


def weight_names(model):
    return [f"{n}.weight" for n in model.blocks_and_fcs()]


def reference(name, init, x, y, kinds, dtype, real, ties=None, noise=None):
    """Everything dump_model computed, computed by PyTorch in dtype: a dict
    label -> float64 array (labels as printed), the conv biases whose true
    gradient is zero ({bias: its weight}), and the noise feeds used ({pass:
    NoiseFeed}).  real: the runtime's real type, that of the model's
    constants; ties: a WeightTies hook for the quantised layers, or None;
    noise: {pass: draws} of a model with noise layers, or None."""
    trained = [n for n, k in kinds.items() if k != "state"]
    state = [n for n, k in kinds.items() if k == "state"]
    x = torch.tensor(x, dtype=dtype)
    out, used = {}, {}

    def build():
        model = torch_models.build(name).to(dtype)
        torch_models.set_real(model, real)
        torch_models.load_arrays(model, init)
        if ties is not None:
            install_ties(model, ties)
        return model, dict(model.named_parameters()), dict(model.named_buffers())

    model, params, buffers = build()
    feed_noise(model, noise, "train", used)
    logits, loss, dx = train_forward_backward(model, x, y)
    out["logits"], out["loss"], out["dx"] = np64(logits), loss.item(), np64(dx)
    for n in trained:
        out[f"grad {n}"] = np64(params[n].grad)
    for n in state:
        out[f"stats {n}"] = np64(buffers[n])

    # The regulariser on the same (master) weights: its value and terms,
    # its own gradient, the step's (loss + regulariser), the next u, v.
    if model.reg:
        total, terms, nxt = model.regularize()
        weights = weight_names(model)
        rgrads = torch.autograd.grad(total, [params[n] for n in weights])
        out["reg terms"] = list(terms)
        for t, v in terms.items():
            out[f"reg {t}"] = v
        out["reg total"] = sum(terms.values())
        for n, g in zip(weights, rgrads):
            out[f"reg grad {n}"] = np64(g)
            out[f"step grad {n}"] = np64(params[n].grad + g)
        for n, t in nxt.items():
            out[f"reg state {n}"] = np64(t)

    # Frozen training mode (noise drawn again, dropout the identity).
    # Evaluation mode and the SGD steps are check_dir's, from the runtime's
    # own states.
    if noise is not None:
        feed_noise(model, noise, "frozen", used)
        with torch.no_grad():
            model.train()
            for m in model.modules():
                if isinstance(m, torch_models.Dropout):
                    m.eval()
            bn = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
            for m in bn:
                m.momentum = 0.0    # batch statistics, running ones kept
            out["frozen logits"] = np64(model(x))
            for m in bn:
                m.momentum = 0.1
    return out, model.cancelled_biases(), used


def reference_lrs(sgd):
    """The learning rate of each dumped optimiser step, from PyTorch's own
    schedulers (one-parameter optimisers at the spec's lr): MultiStepLR and
    CosineAnnealingLR stepped once an epoch, OneCycleLR (linear, momentum
    not cycled) and a LambdaLR of numpy.interp stepped every step, and a
    warm-up's LinearLR from 1/W to 1 over the W warm-up steps."""
    s, lr, per = sgd["schedule"], sgd["lr"], sgd["schedule"]["steps_per_epoch"]
    sched = torch.optim.lr_scheduler
    epochs, warm = s["epochs"], s["warmup"] * per

    def opt():
        return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)

    def rates(make, every):
        o = opt()
        sc = make(o)
        out = []
        for k in range(sgd["steps"]):
            out.append(o.param_groups[0]["lr"])
            if (k + 1) % every == 0:
                sc.step()
        return out

    kind = s["kind"]
    if kind == "multistep":
        main = rates(lambda o: sched.MultiStepLR(o, [int(m) for m in s["at"]], s["gamma"]), per)
    elif kind == "cosine":
        main = rates(lambda o: sched.CosineAnnealingLR(o, epochs, s["min_lr"]), per)
    elif kind == "onecycle":
        main = rates(lambda o: sched.OneCycleLR(o, lr, total_steps=epochs * per, pct_start=s["pct"],
                                                anneal_strategy="linear", cycle_momentum=False,
                                                div_factor=s["div"], final_div_factor=s["final_div"]), 1)
    elif kind == "piecewise":
        main = rates(lambda o: sched.LambdaLR(o, lambda k: float(np.interp(k / per, s["at"],
                                                                           s["factor"]))), 1)
    else:
        main = [lr] * sgd["steps"]
    if warm:
        factor = [w / lr for w in rates(lambda o: sched.LinearLR(o, 1 / warm, 1.0, warm - 1), 1)]
        main = [m * f for m, f in zip(main, factor)]
    return main


def make_optimizer(params, sgd, lr, dtype, k, velocity, second):
    """torch.optim's optimiser of the recipe `sgd` at rate lr, in the state
    the runtime left before step k (1, 2, ...): SGD's momentum buffer, or
    Adam's moments and step count."""
    kind = sgd.get("optimizer", "sgd")
    if kind == "sgd":
        opt = torch.optim.SGD(list(params.values()), lr=lr, momentum=sgd["momentum"],
                              nesterov=bool(sgd.get("nesterov", 0)),
                              weight_decay=sgd["weight_decay"])
        if velocity is not None and sgd["momentum"] != 0:
            for n, p in params.items():
                opt.state[p]["momentum_buffer"] = torch.tensor(velocity[n], dtype=dtype)
        return opt
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    opt = cls(list(params.values()), lr=lr, betas=(sgd["beta1"], sgd["beta2"]), eps=sgd["eps"],
              weight_decay=sgd["weight_decay"])
    if velocity is not None:
        for n, p in params.items():
            opt.state[p]["step"] = torch.tensor(float(k - 1))
            opt.state[p]["exp_avg"] = torch.tensor(velocity[n], dtype=dtype)
            opt.state[p]["exp_avg_sq"] = torch.tensor(second[n], dtype=dtype)
    return opt


def optimizer_state(opt, p, sgd):
    """(velocity, second) of parameter p after a step: SGD's momentum buffer
    (None without momentum) and None, or Adam's two moments."""
    st = opt.state[p]
    if sgd.get("optimizer", "sgd") == "sgd":
        return (st["momentum_buffer"] if sgd["momentum"] != 0 else None), None
    return st["exp_avg"], st["exp_avg_sq"]


def step_reference(name, start, velocity, x, y, kinds, sgd, dtype, real, ties=None,
                   draws=None, flips=None, probe=True, mode="train", second=None, k=1,
                   own_grads=None):
    """One training step computed by PyTorch in dtype from the state the
    runtime stood in before it: parameters and running statistics `start`
    (name -> array, as dumped), and, for an SGD step (sgd: the dumped
    settings), the velocity `velocity` (None before the first step).
    Returns (out, zs, feed): out maps the labels of that step (logits,
    loss, dx, grad <n>, stats <n>; with sgd also velocity <n>, <n> for the
    parameters after the update, reg) to float64 arrays; zs are the
    activations' distances to their kinks, call by call (the probe of
    pgd_check.py, whose derivative the list `flips` changes); feed is the
    NoiseFeed of `draws`, the pass's noise, or None.  With mode "eval", the
    forward and input gradient in evaluation mode (running statistics):
    logits, loss and dx only."""
    trained = [n for n, k in kinds.items() if k != "state"]
    state = [n for n, k in kinds.items() if k == "state"]
    model = torch_models.build(name).to(dtype)
    torch_models.set_real(model, real)
    torch_models.load_arrays(model, start)
    if ties is not None:
        install_ties(model, ties)
    kink = pgd_check.install_probe(model) if probe else None
    if kink is not None:
        kink.inputs, kink.flips = [], flips
    feed = NoiseFeed(draws) if draws is not None else None
    if feed is not None:
        for m in model.modules():
            if isinstance(m, RANDOM_LAYERS):
                m.source = feed
    params, buffers = dict(model.named_parameters()), dict(model.named_buffers())
    x = torch.tensor(x, dtype=dtype)
    if mode == "eval":
        model.eval()
        xt = x.clone().requires_grad_(True)
        logits = model(xt)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        out = {"logits": np64(logits), "loss": loss.item(), "dx": np64(xt.grad)}
        if kink is not None:
            zs, kink.inputs, kink.flips = kink.inputs, [], None
        return out, (zs if kink is not None else []), feed
    logits, loss, dx = train_forward_backward(model, x, y)
    out = {"logits": np64(logits), "loss": loss.item(), "dx": np64(dx)}
    if sgd is not None:
        if model.reg:
            total, terms, nxt = model.regularize()
            total.backward()
            model.commit_spectral(nxt)
            out["reg"] = sum(terms.values())
        lr = sgd["ref_lrs"][k - 1] if "ref_lrs" in sgd else sgd["lr"]
        opt = make_optimizer({n: params[n] for n in trained}, sgd, lr, dtype, k, velocity, second)
        for n in trained:
            out[f"grad {n}"] = np64(params[n].grad)
        if own_grads is not None:
            # Adam divides each entry by its own gradient's size: an entry
            # whose gradient is within float32 rounding of zero (a bias
            # that BatchNorm cancels, a weight on a dark pixel) moves by
            # lr times its rounding noise over eps.  Its update is judged
            # from the runtime's gradient, which the grad lines check.
            with torch.no_grad():
                for n in trained:
                    params[n].grad.copy_(torch.from_numpy(np.asarray(own_grads[n],
                                                                     dtype=np.float64)))
        opt.step()
        for n in trained:
            v, v2 = optimizer_state(opt, params[n], sgd)
            if v is not None:
                out[f"velocity {n}"] = np64(v)
            if v2 is not None:
                out[f"second {n}"] = np64(v2)
            out[n] = np64(params[n])
    else:
        for n in trained:
            out[f"grad {n}"] = np64(params[n].grad)
    for n in state:
        out[f"stats {n}"] = np64(buffers[n])
    zs = kink.inputs if kink is not None else []
    if kink is not None:
        kink.inputs, kink.flips = [], None
    return out, zs, feed


def has_kinks(name):
    """Whether the model has activations the kink probe can watch."""
    return any(isinstance(m, (torch.nn.ReLU, torch.nn.LeakyReLU, torch_models.DTReLU))
               for m in torch_models.build(name).modules())


def kink_flips(zs, units):
    """One bool tensor per activation call, True at the (call, flat index)
    units."""
    flips = [torch.zeros(z.shape, dtype=torch.bool) for z in zs]
    for k, i in units:
        flips[k].view(-1)[i] = True
    return flips


def dx_suspects(got_dx, ref_dx, tol):
    """The images whose input gradient alone is off by more than tol of the
    batch's largest: where a unit flipped at a kink shows first."""
    c = np.asarray(got_dx, dtype=np.float64)
    r = np.asarray(ref_dx, dtype=np.float64)
    scale = max_abs(r)
    if c.shape != r.shape or not scale or c.ndim < 2:
        return []
    per = np.abs(c - r).reshape(c.shape[0], -1).max(axis=1) / scale
    return [int(i) for i in np.nonzero(per > tol)[0]]


def settle_step(tally, labels, error, make_ref, zs, opts, suspects=None):
    """Records the comparisons `labels` of one training step.  error(label,
    ref) -> (err, note) against a reference dict; make_ref(flips) computes
    the float64 reference again with the derivatives of the given kink
    units flipped.  When a label fails, the step is searched as pgd_check
    searches an attack's step: the smallest set (at most max_flips) of the
    max_units activations nearest their kinks (within kink_rel of their
    call's largest distance: float32 cannot settle the side of such a
    unit) whose flipped derivatives make every label of the step pass is
    taken, and the units are named on each line.  A real error of the
    arithmetic moves many entries of many tensors and is not explained by
    flipping a few units' derivatives.  suspects: a few images whose input
    gradient alone is off (dx_suspects); their units (pgd_check.kink_units
    over those images) are searched first, as at a batch of 100 more than
    max_units units of other images lie nearer their kinks than the one
    that flipped."""
    ref = make_ref(None)
    errs = {lab: error(lab, ref) for lab in labels}
    failing = [lab for lab in labels if not errs[lab][0] <= tally.tol]
    excused = ""
    if failing and zs:
        def explaining(candidates):
            """The smallest set of candidates whose flips pass every label,
            with the errors then, or None."""
            for size in range(1, min(opts["max_flips"], len(candidates)) + 1):
                for units_set in itertools.combinations(candidates, size):
                    trial = make_ref(kink_flips(zs, units_set))
                    terrs = {lab: error(lab, trial) for lab in labels}
                    if all(e <= tally.tol for e, _ in terrs.values()):
                        return units_set, terrs
            return None

        units = pgd_check.kink_units(zs, opts["kink_rel"], opts["max_units"])
        lists = [units]
        if suspects and len(suspects) <= opts["max_suspects"]:
            near = pgd_check.kink_units(zs, opts["kink_rel"], opts["max_units"], suspects)
            if near and near != units:
                lists.insert(0, near)
        found = None
        for candidates in lists:
            found = explaining(candidates)
            if found:
                break
        if found:
            units_set, errs = found
            dist = [float(zs[k].reshape(-1)[i]) for k, i in units_set]
            excused = (f" [{len(units_set)} unit(s) at activation kinks flipped: "
                       + ", ".join(f"call {k} |z| {d:.1e}" for (k, _), d in zip(units_set, dist))
                       + "]")
        else:
            excused = (f" [no set of <= {opts['max_flips']} of {len(units)} near-kink units"
                       + (f" (nor of the suspect images' {len(lists[0])})" if len(lists) > 1 else "")
                       + " explains it]")
    for lab in labels:
        err, note = errs[lab]
        tally.record(lab, err, note + (excused if lab in failing else ""))


def max_abs(a):
    a = np.asarray(a, dtype=np.float64)
    return float(np.max(np.abs(a))) if a.size else 0.0


NOISE_PASSES = ("train", "frozen", "eval", "sgd1", "sgd2")


def check_dir(d, tally, opts):
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    name = meta["model"]
    kinds = {t["name"]: t["kind"] for t in meta["tensors"]}
    trained = [n for n, k in kinds.items() if k != "state"]
    state = [n for n, k in kinds.items() if k == "state"]
    # The runtime's real type: float32, or float64 for a double build.
    real = np.float64 if meta.get("real_bytes") == 8 else np.float32
    fills = "".join(f", {s} = {v:g}" for s, v in meta.get("fills", []))
    print(f"oracle: model {name}, seed {meta['seed']}, batch {meta['batch']} "
          f"({meta['data']} images{fills}), runtime in {np.dtype(real).name}, "
          f"tolerance {tally.tol:g} against PyTorch float64")

    def load(f):
        return read_safetensors(os.path.join(d, f))[0]

    def npy(f):
        return np.load(os.path.join(d, f)).astype(np.float64)

    init = load("init.safetensors")
    if set(init) != set(kinds):
        raise ValueError(f"{d}: init.safetensors and meta.json list different tensors")
    x = np.load(os.path.join(d, "x.npy")).astype(real)
    y = torch.tensor(np.load(os.path.join(d, "labels.npy")).astype(np.int64))
    noise = None
    if os.path.exists(os.path.join(d, "noise_train.npy")):
        # a pass that drew nothing (dropout's outside training) wrote no file
        noise = {p: np.load(os.path.join(d, f"noise_{p}.npy"))
                 if os.path.exists(os.path.join(d, f"noise_{p}.npy")) else np.zeros(0)
                 for p in NOISE_PASSES}

    quantized = any(isinstance(m, torch_models.QuantLayer)
                    for m in torch_models.build(name).modules())
    ties = WeightTies() if quantized and real == np.float32 else None
    ref, cancelled, used = reference(name, init, x, y, kinds, torch.float64, real, ties,
                                     noise)
    r32, _, _ = reference(name, init, x, y, kinds, torch.float32, real, None, noise)

    # What the C code wrote, under the same labels.
    got = {"logits": npy("logits.npy"), "loss": meta["loss"], "dx": npy("dx.npy"),
           "eval logits": npy("eval_logits.npy"), "eval loss": meta["eval_loss"],
           "eval dx": npy("eval_dx.npy")}
    grads, after = load("grads.safetensors"), load("after.safetensors")
    for n in trained:
        got[f"grad {n}"] = grads[n]
    for n in state:
        got[f"stats {n}"] = after[n]
    def scale_of(label):
        """(scale, note) the error of label is divided by."""
        kind, _, n = label.partition(" ")
        if kind == "grad" and n in cancelled:
            return max_abs(ref[f"grad {cancelled[n]}"]), f" (true gradient 0: of max|grad {cancelled[n]}|)"
        return max_abs(ref[label]), ""

    def compare(label):
        c = np.asarray(got[label], dtype=np.float64)
        r = np.asarray(ref[label], dtype=np.float64)
        if c.shape != r.shape:
            tally.failed += 1
            print(f"  FAIL {label:<30} shape {list(c.shape)}, PyTorch {list(r.shape)}")
            return
        scale, note = scale_of(label)
        err = max_abs(c - r)
        err = err / scale if scale else err
        e32 = max_abs(np.asarray(r32[label], dtype=np.float64) - r) / scale if scale else 0.0
        tally.record(label, err, f"  torch32 {e32:.1e}{note}")

    # The training step from init, then each SGD step from the state the
    # runtime reached before it (its parameters, running statistics and
    # velocity): every comparison of a step starts from the same float32
    # numbers on both sides, so its error is that step's arithmetic alone
    # and does not compound.
    probe = has_kinks(name)
    draws = noise or {}
    sgd = meta["sgd"]

    def step_error(prefix, start, r32):
        def error(label, refs):
            key = label[len(prefix):]
            c = np.asarray(got[label], dtype=np.float64)
            r = np.asarray(refs[key], dtype=np.float64)
            if c.shape != r.shape:
                return float("inf"), f" shape {list(c.shape)}, PyTorch {list(r.shape)}"
            kind, _, n = key.partition(" ")
            slack, note = 0.0, ""
            if kind in ("grad", "velocity", "second") and n in cancelled:
                scale = max_abs(refs[f"{kind} {cancelled[n]}"])
                note = f" (true gradient 0: of max|{kind} {cancelled[n]}|)"
            elif key in kinds and kinds[key] != "state":
                # Judged on the update p - p_before, less the rounding of
                # storing p in the runtime's real type (one ulp); a conv
                # bias before BatchNorm on its weight's update.
                base = cancelled.get(key, key)
                scale = max_abs(refs[base] - start[base])
                slack = float(np.spacing(real(max_abs(r))))
                note = f" (of the update) (1 ulp = {slack / scale:.0e} of it)" if scale else ""
            else:
                scale = max_abs(r)
            err = max(0.0, max_abs(c - r) - slack)
            err = err / scale if scale else err
            e32 = max_abs(np.asarray(r32[key], dtype=np.float64) - r) / scale if scale else 0.0
            return err, f"  torch32 {e32:.1e}{note}"
        return error

    # the images the first step's input gradient singles out (dx_suspects):
    # the steps after it have no input gradient of their own to tell
    first_suspects = []

    def check_step(prefix, start, velocity, step_sgd, tag, labels, mode="train", second=None,
                   k=1, own=None):
        nonlocal first_suspects
        ref64, zs, feed = step_reference(name, start, velocity, x, y, kinds, step_sgd,
                                         torch.float64, real, ties, draws.get(tag), None, probe,
                                         mode, second, k, own)
        if feed is not None:
            used[tag] = feed
        ref32, _, _ = step_reference(name, start, velocity, x, y, kinds, step_sgd,
                                     torch.float32, real, None, draws.get(tag), None, False, mode,
                                     second, k, own)

        def make_ref(flips):
            if flips is None:
                return ref64
            return step_reference(name, start, velocity, x, y, kinds, step_sgd, torch.float64,
                                  real, ties, draws.get(tag), flips, probe, mode, second, k,
                                  own)[0]
        suspects = first_suspects
        if prefix + "dx" in got:
            suspects = dx_suspects(got[prefix + "dx"], ref64["dx"], tally.tol)
            if not prefix:
                first_suspects = suspects
        settle_step(tally, labels, step_error(prefix, start, ref32), make_ref, zs, opts, suspects)

    check_step("", init, None, None, "train",
               ["logits", "loss"] + [f"grad {n}" for n in trained] + ["dx"] +
               [f"stats {n}" for n in state])
    tally.exact("forward moves no trained tensor",
                np.concatenate([after[n].ravel() for n in trained]),
                np.concatenate([init[n].ravel() for n in trained]))
    if ties is not None:
        tally.check("quantised weights on ties", ties.unexplained == 0,
                    f"{ties.ties} of {ties.weights} weight roundings excused as float32 "
                    f"ties (runtime's index taken), {ties.unexplained} differ otherwise")
    if "reg" in meta or "reg terms" in ref:
        check_reg(d, meta, ref, got, grads, after, load, tally, compare)

    # Frozen training mode: the training-mode logits, nothing moves.
    got["frozen logits"] = npy("frozen_logits.npy")
    if "frozen logits" not in ref:
        ref["frozen logits"], r32["frozen logits"] = ref["logits"], r32["logits"]
    compare("frozen logits")
    frozen = load("frozen.safetensors")
    tally.exact("frozen forward moves nothing",
                np.concatenate([frozen[n].ravel() for n in kinds]),
                np.concatenate([after[n].ravel() for n in kinds]))

    # Evaluation mode from the running statistics the runtime's training
    # forward left.
    check_step("eval ", after, None, None, "eval", ["eval logits", "eval loss", "eval dx"],
               mode="eval")
    start, velocity, second = init, None, None
    adam = sgd.get("optimizer", "sgd") != "sgd"
    if "lrs" in sgd:
        # The schedule: each step's rate against PyTorch's schedulers'; the
        # steps are then taken at PyTorch's rates.
        sgd["ref_lrs"] = reference_lrs(sgd)
        for k, (c, r) in enumerate(zip(sgd["lrs"], sgd["ref_lrs"]), 1):
            tally.record(f"sgd{k} lr ({sgd['schedule']['kind']})", abs(c - r) / abs(r) if r else abs(c),
                         f"  {c:.6g} vs {r:.6g}")
    for step in range(1, sgd.get("steps", 2) + 1):
        prefix = f"sgd{step} "
        after_step = load(f"sgd{step}.safetensors")
        step_grads = load(f"sgd{step}_grads.safetensors")
        step_velocity = load(f"sgd{step}_velocity.safetensors")
        step_second = load(f"sgd{step}_second.safetensors") if adam else None
        keys = ["loss"]
        got[prefix + "loss"] = sgd["losses"][step - 1]
        if "reg" in meta:
            keys.append("reg")
            got[prefix + "reg"] = meta["reg"]["sgd"][step - 1]
        for n in trained:
            got[f"{prefix}grad {n}"] = step_grads[n]
            got[f"{prefix}velocity {n}"] = step_velocity[n]
            if adam:
                got[f"{prefix}second {n}"] = step_second[n]
            got[prefix + n] = after_step[n]
        for n in state:
            got[f"{prefix}stats {n}"] = after_step[n]
        keys += [f"grad {n}" for n in trained]
        if adam or sgd["momentum"] != 0:
            keys += [f"velocity {n}" for n in trained]
        if adam:
            keys += [f"second {n}" for n in trained]
        keys += trained + [f"stats {n}" for n in state]
        check_step(prefix, start, velocity, sgd, f"sgd{step}", [prefix + k for k in keys],
                   second=second, k=step, own=step_grads if adam else None)
        start, velocity, second = after_step, step_velocity, step_second
    if noise is not None:
        counts = [f"{p} {used[p].used}/{len(noise[p])}" for p in NOISE_PASSES]
        tally.check("noise draws replayed", all(used[p].used == len(noise[p]) for p in NOISE_PASSES),
                    "used/dumped: " + ", ".join(counts))
    if os.path.exists(os.path.join(d, "noise_pgd.npy")):
        check_ensemble_grad(d, meta, x, y, tally, real, opts)
        return
    check_pgd(d, meta, x, y, tally, opts, real)


def check_ensemble_grad(d, meta, x, y, tally, real, opts):
    """A randomised model's attack gradient at x (runtime/infer.c): the
    cross-entropy of the average of meta["ensemble"] noisy passes (of their
    logits, or log of their mean probabilities), each pass with the
    runtime's draws, and its input gradient.  Each pass has its own
    activation calls, so a unit within float32 rounding of its kink in one
    pass is searched for as in a training step (settle_step).  The attacks
    themselves are not replayed."""
    name, passes = meta["model"], meta.get("ensemble", 1)
    params = read_safetensors(os.path.join(d, "pgd.safetensors"))[0]
    draws = np.load(os.path.join(d, "noise_pgd.npy"))
    n = len(x)
    probe = has_kinks(name)

    def run(dtype, flips=None):
        model = torch_models.build(name).to(dtype)
        torch_models.set_real(model, real)
        torch_models.load_arrays(model, params)
        model.eval()
        kink = pgd_check.install_probe(model) if probe and dtype == torch.float64 else None
        if kink is not None:
            kink.inputs, kink.flips = [], flips
        feed = NoiseFeed(draws)
        for m in model.modules():
            if isinstance(m, torch_models.Noise):
                m.source = feed
        xt = torch.tensor(x, dtype=dtype, requires_grad=True)
        outs = torch.stack([model(xt) for _ in range(passes)])
        if meta.get("ensemble_probs"):
            comb = torch.logsumexp(F.log_softmax(outs, dim=2), dim=0) - float(np.log(passes))
        else:
            comb = outs.mean(dim=0)
        loss = F.cross_entropy(comb, y, reduction="sum")
        (g,) = torch.autograd.grad(loss, xt)
        zs = kink.inputs if kink is not None else []
        return {"dx": np64(g), "loss": loss.item() / n}, zs, feed.used

    ref, zs, used = run(torch.float64)
    ref32, _, _ = run(torch.float32)
    tally.check("pgd noise draws replayed", used == len(draws),
                f"{passes} passes used {used} of {len(draws)} draws")
    c = np.load(os.path.join(d, "pgd_dx.npy")).astype(np.float64)

    def error(label, r):
        if label == "pgd loss":
            loss = r["loss"]
            return (abs(meta["pgd"]["loss"] - loss) / abs(loss),
                    f"  torch32 {abs(ref32['loss'] - loss) / abs(loss):.1e} ({passes}-pass average)")
        g = r["dx"]
        return (max_abs(c - g) / max_abs(g),
                f"  torch32 {max_abs(ref32['dx'] - g) / max_abs(g):.1e} ({passes}-pass average)")

    settle_step(tally, ["pgd loss", "pgd dx"], error,
                lambda flips: ref if flips is None else run(torch.float64, flips)[0], zs, opts)
    print("  skip pgd attacks: randomised model, its iterates are not replayed")


def check_reg(d, meta, ref, got, grads, after, load, tally, compare):
    """The regulariser of the training step: its terms, its gradient alone
    and added to the step's, and the power iteration's new u, v."""
    reg = meta.get("reg")
    if reg is None:
        tally.check("regulariser", False, "the runtime ran none; PyTorch's model has one")
        return
    names = list(reg["terms"])
    if names != ref["reg terms"]:
        tally.check("regulariser terms", False, f"runtime {names}, PyTorch {ref['reg terms']}")
        return
    for t in names:
        got[f"reg {t}"] = reg["terms"][t]
        compare(f"reg {t}")
    got["reg total"] = reg["total"]
    compare("reg total")
    tally.exact("regulariser repeats itself",
                np.array([reg["again"]] + [reg["again_terms"][t] for t in names]),
                np.array([reg["total"]] + [reg["terms"][t] for t in names]))
    only, step, moved = load("reg_only.safetensors"), load("reg_grads.safetensors"), \
        load("reg_after.safetensors")
    weights = [k.split(" ", 2)[2] for k in ref if k.startswith("reg grad ")]
    for n in weights:
        got[f"reg grad {n}"] = only[n]
        compare(f"reg grad {n}")
    for n in weights:
        got[f"step grad {n}"] = step[n]
        compare(f"step grad {n}")
    others = [n for n in grads if n not in weights]
    tally.exact("regulariser adds to weights only",
                np.concatenate([step[n].ravel() for n in others] +
                               [only[n].ravel() for n in others]),
                np.concatenate([grads[n].ravel() for n in others] +
                               [np.zeros(only[n].size, dtype=only[n].dtype) for n in others]))
    vectors = [k.split(" ", 2)[2] for k in ref if k.startswith("reg state ")]
    for n in vectors:
        got[f"reg state {n}"] = moved[n]
        compare(f"reg state {n}")
    rest = [n for n in after if n not in vectors]
    tally.exact("regulariser moves only u, v",
                np.concatenate([moved[n].ravel() for n in rest]),
                np.concatenate([after[n].ravel() for n in rest]))


def check_pgd(d, meta, x, y, tally, opts, real=np.float32):
    """The PGD dumps of d: the gradient at x, then each attack; real is the
    runtime's real type."""
    name, pgd = meta["model"], meta["pgd"]
    params = read_safetensors(os.path.join(d, "pgd.safetensors"))[0]
    model = pgd_check.EvalModel(name, params, probe=has_kinks(name), real=real)
    c = np.load(os.path.join(d, "pgd_dx.npy")).astype(np.float64)
    if c.shape != x.shape:
        tally.check("pgd dx", False, f"shape {list(c.shape)}, batch {list(x.shape)}")
        return
    raw, err, units, images, g, loss = pgd_check.check_gradient(model, x, y, c, tally.tol, opts,
                                                                real)
    g32, loss32, _ = pgd_check.EvalModel(name, params, torch.float32, False, real).grad(
        torch.from_numpy(x), y)
    n = len(x)
    # infer_loss_grad returns the mean loss and the gradient of the sum.
    ref_loss = loss / n
    tally.record("pgd loss", abs(pgd["loss"] - ref_loss) / abs(ref_loss),
                 f"  torch32 {abs(loss32 / n - ref_loss) / abs(ref_loss):.1e}")
    r = np64(g)
    note = f"  torch32 {max_abs(np64(g32) - r) / max_abs(r):.1e}"
    if units:
        note += f" (raw {raw:.1e}: {units} ReLU kink units flipped in {images} images)"
    tally.record("pgd dx", err, note)
    # a pixel's sign within twice the runtime's error at x is not settled
    # (pgd_check.py), where that error passed
    scale = float(g.abs().max())
    opts = dict(opts, near_abs=2 * err * scale if err <= tally.tol else 0.0)
    floor = (f" (below {opts['near_rel']:.0e} of its image's largest or "
             f"{opts['near_abs'] / scale if scale else 0:.1e} of the batch's)")

    for run in pgd["runs"]:
        label = f"pgd {run['eps'] * 255:g}/255 {run['steps']} steps"
        path = np.load(os.path.join(d, f"pgd_{run['name']}_path.npy"))
        final = np.load(os.path.join(d, f"pgd_{run['name']}.npy"))
        if path.shape != (run["steps"],) + x.shape or final.shape != x.shape:
            tally.check(label, False, f"path shape {list(path.shape)}, images {list(final.shape)}, "
                        f"batch {list(x.shape)}")
            continue
        res = pgd_check.check_attack(model, x, y, path, run["eps"], pgd["alpha"], opts, real)
        total = res["steps"] * res["images"] * res["pixels"]
        excused = res["near"] + res["kink"]
        share = excused / total
        text = (f"{total} pixel steps, max diff "
                f"{res['max_diff']:.1e}; excused {excused} ({share:.1e}): {res['near']} "
                f"near-zero gradient{floor} ({res['near_differ']} differ), {res['kink']} at activation "
                f"kinks ({res['kink_units']} units)")
        if res["unexplained"]:
            text += f"; {res['unexplained']} DIFFER by up to {res['unexplained_max']:.1e}"
            if res["unsearched"]:
                text += f" ({res['unsearched']} images past the kink search budget)"
        if share > opts["share"]:
            text += f"; share above {opts['share']:g}"
        tally.check(label, res["unexplained"] == 0 and share <= opts["share"], text)

        # The attack's own output against PyTorch's path from x.
        kept = [b for b in range(n) if b not in res["parted"]]
        diff = np.abs(final[kept].astype(np.float64) - res["final"][kept]) if kept else np.zeros(1)
        parted = [f"#{b} at step {s}" for b, s in sorted(res["parted"].items())]
        parted = ", ".join(parted[:6] + (["..."] if len(parted) > 6 else []))
        text = (f"{len(kept)} of {n} images as PyTorch's from x ({diff.size if kept else 0} pixels, "
                f"max diff {float(diff.max()):.1e})" + (f"; parted: {parted}" if parted else "") +
                f"; loss {res['loss'][0] / n:.4f} -> {res['loss'][-1] / n:.4f}")
        tally.check(f"pgd {run['eps'] * 255:g}/255 final", bool(np.all(diff < pgd_check.SAME)), text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--pgd-near", type=float, default=1e-6,
                    help="PGD: a gradient entry below this times its image's largest is near zero")
    ap.add_argument("--pgd-kink", type=float, default=1e-5,
                    help="PGD: a ReLU input below this times its layer's largest is at a kink")
    ap.add_argument("--pgd-share", type=float, default=0.01,
                    help="PGD: largest share of pixel steps that may be excused")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch's threads")
    ap.add_argument("dirs", nargs="+", help="directories written by dump_model")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    tally = Tally(args.tol)
    opts = {"near_rel": args.pgd_near, "kink_rel": args.pgd_kink, "share": args.pgd_share,
            "max_flips": 3, "max_units": 8, "max_suspects": 4}
    for d in args.dirs:
        try:
            check_dir(d, tally, opts)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            tally.failed += 1
            print(f"  FAIL {d}: {e}")
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
