"""specgen_twin.py - an independent reading of a generated model spec, for the
spec fuzzer (tests/specgen/specgen.py): from the JSON layer list the generator
writes next to each spec (tests/specgen/gen.py), it

  - applies the patch statements (replace, insert, quantize, regularize,
    ensemble, train) to the base layer list, in order, naming every layer
    as the spec language does: an unnamed layer is <prefix><k>, k counting
    every layer with that prefix from the front (named ones included), the
    names given again after each statement;
  - infers shapes and says whether advcc must accept the spec, and if not,
    which layer or statement is at fault (`validate`);
  - predicts the model's tensors (names and shapes, `tensors`);
  - builds a PyTorch twin (`Twin`) out of PyTorch's own functions
    (F.conv2d, F.batch_norm, F.linear, pools, autograd), float64.

Nothing here reads advcc's output or the generated C.  What the language
means is taken from README.md, advcc --help and the runtime's headers
(runtime/quant.h, dtrelu.h, threshold_act.h, orthogonal.h, spectral.h).

Layer dicts: {"kind": "conv", "out", "k", "stride", "pad" (int, "same" or
"valid"), "bias"}, where k, stride and an int pad may also be a pair
[height, width], {"kind": "avgpool"|"maxpool", "k", "stride"}, {"kind":
"linear", "out", "bias"}, {"kind": "normalize", "mean": [...], "std":
[...]}, {"kind": "noise", "sigma"}, {"kind": "dtrelu", "bits", "lo", "hi"},
{"kind": "pwlinear"|"naivedt"|"ddtrelu", "bits", "lo", "hi", "levels"},
{"kind": "leakyrelu", "slope"}, {"kind": "dropout", "p"},
{"kind": "batchnorm"|"relu"|"tanh"|"sigmoid"|"flatten"|"gap"}; any may
carry "name" and "line" (the spec line it is written on).  Omitted keys
take the language's defaults.  {"kind": "residual", "main": [...],
"shortcut": [...]} is a residual block (no "shortcut": the identity), its
paths layer lists of their own; it becomes the nodes advcc makes of it
(`wire`): the main path's layers, the shortcut's, and an "add" of their
ends (the block's input for a missing or empty path), named add<k>.  Each
node says what it reads: "src" (a node's "uid", None for the model's
input) and an add's "src2" (the shortcut's end).

Statement dicts ("stmt"): quantize, regularize, replace, insert, ensemble,
attack, adversarial, augment ("crop", "flip") and train ("optimizer" sgd,
adam or adamw, "lr", "momentum", "nesterov", "beta1", "beta2", "eps",
"weight_decay", "schedule" and its keys "milestones", "gamma", "min_lr",
"pct", "div", "final_div", "knots", "factors", and "warmup").
"""
import copy
import itertools
import math

from normal_quantile import normal_quantile

PREFIX = {"normalize": "norm", "conv": "conv", "batchnorm": "bn", "relu": "relu",
          "avgpool": "pool", "maxpool": "pool", "flatten": "flatten", "linear": "fc",
          "noise": "noise", "dtrelu": "dtrelu", "pwlinear": "pwlinear", "naivedt": "naivedt",
          "ddtrelu": "ddtrelu", "leakyrelu": "leakyrelu", "tanh": "tanh", "sigmoid": "sigmoid",
          "gap": "gap", "dropout": "dropout", "add": "add"}
ACTIVATIONS = ("relu", "dtrelu", "pwlinear", "naivedt", "ddtrelu", "leakyrelu", "tanh",
               "sigmoid")
PLAIN_ACTIVATIONS = ("relu", "tanh", "sigmoid")     # no parameters
STAIRCASE = ("dtrelu", "naivedt", "ddtrelu")     # piecewise constant in their input
LEVELS_MAX = 256
TIE_REL = 1e-10     # an input this close to a kink (relative) is a tie


class SpecError(Exception):
    """advcc must reject the spec; `where` is the layer or statement dict
    at fault (its "line" is where the error must be located)."""

    def __init__(self, where, text):
        super().__init__(text)
        self.where = where


def defaults(layer):
    """A copy of layer with every omitted parameter at its default."""
    d = dict(layer)
    k = d["kind"]
    if k == "conv":
        d.setdefault("stride", 1)
        d.setdefault("pad", 0)
        d.setdefault("bias", 1)
    elif k in ("avgpool", "maxpool"):
        d.setdefault("stride", d["k"])
    elif k == "linear":
        d.setdefault("bias", 1)
    elif k == "noise":
        d.setdefault("sigma", 0.0)
    elif k == "leakyrelu":
        d.setdefault("slope", 0.01)
    elif k == "dropout":
        d.setdefault("p", 0.5)
    elif k in ("dtrelu", "pwlinear", "naivedt", "ddtrelu"):
        d.setdefault("bits", 8)
        d.setdefault("lo", 0.0)
        d.setdefault("hi", 6.0)
        if k != "dtrelu":
            d.setdefault("levels", 2 ** d["bits"] - 1)
    return d


def wire(layers, uids):
    """The nodes of a layer list, residual blocks laid out as advcc lays
    them out (main path, shortcut, add), defaults filled and checked; each
    node gets a "uid" from the iterator uids and its "src" (and "src2")."""
    nodes = []

    def chain(ls, src):
        for l in ls:
            if l["kind"] == "residual":
                main = chain(l["main"], src)
                short = chain(l.get("shortcut", []), src)
                node = {"kind": "add", "named": False, "line": l.get("line"), "src": main,
                        "src2": short}
            else:
                node = defaults(l)
                node["named"] = "name" in l
                node["src"] = src
                check_layer(node)
            node["uid"] = next(uids)
            nodes.append(node)
            src = node["uid"]
        return src

    chain(layers, None)
    return nodes


def redirect(layers, old, new, skip):
    """What read node `old` reads `new` (but `skip`, a node)."""
    for m in layers:
        if m is skip:
            continue
        for key in ("src", "src2"):
            if key in m and m[key] == old:
                m[key] = new


def name_layers(layers):
    """Gives every unnamed layer its default name (in place)."""
    count = {}
    for l in layers:
        p = PREFIX[l["kind"]]
        count[p] = count.get(p, 0) + 1
        if not l.get("named"):
            l["name"] = f"{p}{count[p]}"


def matches(layer, target):
    """A target is a layer kind (every layer of it) or a layer's name."""
    return layer["kind"] == target if target in PREFIX else layer["name"] == target


def check_layer(l):
    """The checks of one layer's own parameters (before shapes)."""
    k = l["kind"]
    if k == "conv" and l["pad"] == "same" and any(s % 2 == 0 for s in pair(l["k"])):
        raise SpecError(l, "pad=same with an even kernel")
    if k in ("dtrelu", "pwlinear", "naivedt", "ddtrelu"):
        if not l["lo"] < l["hi"]:
            raise SpecError(l, "lo >= hi")
        if k != "dtrelu" and l["levels"] > LEVELS_MAX:
            raise SpecError(l, "more than 256 levels")
    if k == "normalize" and len(l["mean"]) != len(l["std"]):
        raise SpecError(l, "mean and std differ in length")
    if k == "dropout" and not 0 <= l["p"] < 1:
        raise SpecError(l, "dropout p outside [0, 1)")


# The training recipe where the spec says nothing (compiler/settings.c,
# runtime/vocab.h's ADVCC_DEFAULT_*); a schedule's points start empty.
TRAIN_DEFAULTS = {"lr": 0.001, "momentum": 0.9, "weight_decay": 0.0, "optimizer": "sgd",
                  "nesterov": 0, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                  "schedule": "constant", "warmup": 0, "gamma": 0.1, "min_lr": 0.0, "pct": 0.3,
                  "div": 25.0, "final_div": 1e4, "at": [], "factor": [], "epochs": 10}
TRAIN_KEYS = ("lr", "momentum", "nesterov", "beta1", "beta2", "eps", "weight_decay", "warmup",
              "gamma", "min_lr", "pct", "div", "final_div")


def train_merge(train, p):
    """A `train` statement's keys over the recipe so far (as
    compiler/settings.c merges them); raises SpecError for what the merged
    recipe lacks or contradicts."""
    if "optimizer" in p:
        train["optimizer"] = p["optimizer"]
    if "schedule" in p and p["schedule"] != train["schedule"]:
        train["schedule"] = p["schedule"]
        train["at"], train["factor"] = [], []   # a new schedule's points start over
    for key in TRAIN_KEYS:
        if key in p:
            train[key] = p[key]
    if "milestones" in p:
        train["at"] = list(p["milestones"])
    if "knots" in p:
        train["at"], train["factor"] = list(p["knots"]), list(p["factors"])
    if train["optimizer"] == "sgd" and train["nesterov"] and train["momentum"] == 0:
        raise SpecError(p, "nesterov=1 without momentum")
    if train["schedule"] in ("multistep", "piecewise") and not train["at"]:
        raise SpecError(p, f"schedule={train['schedule']} without its points")


def apply_patches(spec):
    """The model's final layers (defaults filled, named, each with the
    quantiser it has, "quant"), its regularisers [(kind, layer name, dict)],
    ensemble (n, probs) and SGD settings; raises SpecError."""
    uids = itertools.count()
    layers = wire(spec["layers"], uids)
    name_layers(layers)
    regs, ensemble = [], (1, False)
    train = copy.deepcopy(TRAIN_DEFAULTS)
    for p in spec.get("patches", []):
        st = p["stmt"]
        if st == "train":
            train_merge(train, p)
            continue
        if st == "augment":     # the dumps do not augment
            continue
        if st == "ensemble":
            # merged over the settings: average keeps its value unless given
            ensemble = (p["n"], p["average"] == "probs" if "average" in p else ensemble[1])
            continue
        if st in ("attack", "adversarial"):     # how the binary trains and attacks
            continue
        hit = [False] * len(layers)
        for t in p["targets"]:
            one = [matches(l, t) for l in layers]
            if not any(one):
                raise SpecError(p, f"target {t} matches nothing")
            for i, m in enumerate(one):
                if m:
                    if st in ("quantize", "regularize") and layers[i]["kind"] not in ("conv", "linear"):
                        raise SpecError(p, f"{st} of a {layers[i]['kind']} layer")
                    if layers[i]["kind"] == "add" and (st == "replace" or st == "insert" and
                                                       p["where"] == "before"):
                        raise SpecError(p, f"{st} of a residual block's add")
                    hit[i] = True
        if st == "replace":
            with_ = defaults(p["with"])
            with_["named"] = "name" in p["with"]
            with_["line"] = p.get("line")       # its errors are the statement's
            check_layer(with_)
            for i in range(len(layers)):
                if hit[i]:
                    # it reads what the layer read, and what read the layer reads it
                    old = layers[i]
                    layers[i] = dict(with_, src=old["src"], uid=next(uids))
                    redirect(layers, old["uid"], layers[i]["uid"], layers[i])
        elif st == "insert":
            add = defaults(p["layer"])
            add["named"] = "name" in p["layer"]
            add["line"] = p.get("line")
            check_layer(add)
            idx = [i for i in range(len(layers)) if hit[i]]
            lowest = idx[0]
            for i in reversed(idx):
                new = dict(add, uid=next(uids))
                if i == lowest and "first" in p:
                    new["sigma"] = p["first"]
                # after: it reads the target, and what read the target
                # reads it; before: it reads what the target read, and the
                # target reads it
                target = layers[i]
                if p["where"] == "after":
                    new["src"] = target["uid"]
                    redirect(layers, target["uid"], new["uid"], None)
                    layers.insert(i + 1, new)
                else:
                    new["src"] = target["src"]
                    target["src"] = new["uid"]
                    layers.insert(i, new)
        elif st == "quantize":
            q = {"bits": p.get("bits", 8), "range": p.get("range", "minmax"),
                 "lo": p.get("lo"), "hi": p.get("hi")}
            if q["range"] == "fixed" and not q["lo"] < q["hi"]:
                raise SpecError(p, "quantize lo >= hi")
            for i in range(len(layers)):
                if hit[i]:
                    layers[i]["quant"] = q
        elif st == "regularize":
            for i in range(len(layers)):
                if hit[i]:
                    regs.append((p["kind"], layers[i], p))
        else:
            raise ValueError(f"unknown statement {st}")
        name_layers(layers)
    # A regulariser holds on to its layer, not to its name (a later insert
    # may rename it); a layer replaced after it was regularised is an error
    # at the regularize statement.
    live = {id(l) for l in layers}
    for _, l, p in regs:
        if id(l) not in live:
            raise SpecError(p, "a regularised layer was replaced by a later patch")
    regs = [(kind, l["name"], p) for kind, l, p in regs]
    return layers, regs, ensemble, train


def window_out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def pair(v):
    """An int or a pair [height, width] as a tuple (height, width)."""
    return tuple(v) if isinstance(v, (list, tuple)) else (v, v)


def infer_shapes(spec, layers):
    """Sets each layer's "in" and "out": (c, h, w) of an image, (f,) of a
    flat vector; raises SpecError."""
    shapes = {None: tuple(spec["input"])}
    for l in layers:
        k = l["kind"]
        cur = shapes[l["src"]]
        l["in"] = cur
        image = len(cur) == 3
        if k in ("conv", "avgpool", "maxpool"):
            if not image:
                raise SpecError(l, f"{k} of a flat input")
            (kh, kw), (sh, sw), pad = pair(l["k"]), pair(l["stride"]), (0, 0)
            if k == "conv":
                pad = ((kh - 1) // 2, (kw - 1) // 2) if l["pad"] == "same" else \
                    (0, 0) if l["pad"] == "valid" else pair(l["pad"])
            c, h, w = cur
            if kh > h + 2 * pad[0] or kw > w + 2 * pad[1]:
                raise SpecError(l, "window larger than the input")
            ho, wo = window_out(h, kh, sh, pad[0]), window_out(w, kw, sw, pad[1])
            if ho <= 0 or wo <= 0:
                raise SpecError(l, "empty output")
            cur = (l["out"] if k == "conv" else c, ho, wo)
            # the window per axis, as PyTorch takes it
            l["kernel"], l["strides"], l["padding"] = (kh, kw), (sh, sw), pad
        elif k == "normalize":
            # README: normalize reads the input images; it must come before
            # every conv, batchnorm, pool, flatten, linear and normalize
            for prev in layers[:layers.index(l)]:
                if prev["kind"] in ("conv", "batchnorm", "avgpool", "maxpool", "flatten",
                                    "linear", "normalize"):
                    raise SpecError(l, f"normalize after {prev['kind']}")
            if len(l["mean"]) != cur[0]:
                raise SpecError(l, "normalize values differ from the channels")
        elif k == "flatten":
            if not image:
                raise SpecError(l, "flatten of a flat input")
            cur = (cur[0] * cur[1] * cur[2],)
        elif k == "gap":
            if not image:
                raise SpecError(l, "gap of a flat input")
            cur = (cur[0],)
        elif k == "linear":
            if image:
                raise SpecError(l, "linear of an image")
            cur = (l["out"],)
        elif k == "add" and shapes[l["src2"]] != cur:
            raise SpecError(l, "residual block: the paths give different shapes")
        l["out_shape"] = shapes[l["uid"]] = cur
    if not layers:
        return
    if len(cur) != 1 or cur[0] != spec["classes"]:
        raise SpecError(layers[-1], "the last layer does not give the class scores")


def validate(spec):
    """(layers, regs, ensemble, train) of a spec advcc must accept; raises
    SpecError for one it must reject."""
    layers, regs, ensemble, train = apply_patches(spec)
    infer_shapes(spec, layers)
    return layers, regs, ensemble, train


def tensors(layers, regs):
    """[(name, shape, kind)] in the model's order: each layer's tensors,
    and a spectral regulariser's u, v after its layer's (sn_u, sn_v; the
    k-th on one layer snk_u, snk_v).  kind: weight, bias, bn_scale,
    bn_shift, threshold or state."""
    spectral = {}
    for kind, lname, _ in regs:
        if kind == "spectral":
            spectral[lname] = spectral.get(lname, 0) + 1
    out = []
    for l in layers:
        n, k = l["name"], l["kind"]
        if k == "conv":
            out.append((f"{n}.weight", (l["out"], l["in"][0]) + pair(l["k"]), "weight"))
            if l["bias"]:
                out.append((f"{n}.bias", (l["out"],), "bias"))
        elif k == "linear":
            out.append((f"{n}.weight", (l["out"], l["in"][0]), "weight"))
            if l["bias"]:
                out.append((f"{n}.bias", (l["out"],), "bias"))
        elif k == "batchnorm":
            c = l["in"][0]
            out += [(f"{n}.weight", (c,), "bn_scale"), (f"{n}.bias", (c,), "bn_shift"),
                    (f"{n}.running_mean", (c,), "state"), (f"{n}.running_var", (c,), "state")]
        elif k == "dtrelu":
            out += [(f"{n}.lo", (1,), "threshold"), (f"{n}.hi", (1,), "threshold")]
        elif k in ("pwlinear", "naivedt", "ddtrelu"):
            out.append((f"{n}.thresholds", (l["levels"],), "threshold"))
            if k == "pwlinear":
                out.append((f"{n}.values", (l["levels"],), "threshold"))
        for j in range(1, spectral.get(n, 0) + 1):
            s = "sn" if j == 1 else f"sn{j}"
            if k == "conv":
                u = (l["out"],) + l["out_shape"][1:]
                v = l["in"]
            else:
                u, v = (l["out"],), l["in"]
            out += [(f"{n}.{s}_u", u, "state"), (f"{n}.{s}_v", v, "state")]
    return out


def reg_terms(regs):
    """[(term name, kind, layer name, statement, k)]: ortho_<layer> and
    spectral_<layer>, the k-th of a kind on one layer with suffix _k; k
    also numbers the spectral state (sn, sn2, ...)."""
    seen, out = {}, []
    for kind, lname, p in regs:
        key = (kind, lname)
        seen[key] = seen.get(key, 0) + 1
        j = seen[key]
        base = ("ortho_" if kind == "orthogonal" else "spectral_") + lname
        out.append((base if j == 1 else f"{base}_{j}", kind, lname, p, j))
    return out


# ---- PyTorch -----------------------------------------------------------------

def _torch():
    import torch  # noqa: F401  (imported lazily: the generator does not need it)
    return torch


def round_half_away(v):
    torch = _torch()
    t = torch.trunc(v)
    f = v - t
    return t + (f >= 0.5).to(v.dtype) - (f <= -0.5).to(v.dtype)


def fake_quant(w, q):
    """runtime/quant.h's quantiser of a weight (minmax, channel: one range
    per output row, fixed), with its saturating straight-through gradient."""
    torch = _torch()
    top = float(2 ** q["bits"] - 1)
    rows = w.reshape(w.shape[0], -1)
    with torch.no_grad():
        if q["range"] == "fixed":
            lo = torch.full((rows.shape[0], 1), float(q["lo"]), dtype=w.dtype)
            hi = torch.full((rows.shape[0], 1), float(q["hi"]), dtype=w.dtype)
        elif q["range"] == "channel":
            lo, hi = rows.min(dim=1, keepdim=True)[0], rows.max(dim=1, keepdim=True)[0]
        else:
            lo = rows.min().reshape(1, 1).expand(rows.shape[0], 1)
            hi = rows.max().reshape(1, 1).expand(rows.shape[0], 1)
        s = (hi - lo) / top
        flat = hi <= lo
        s_safe = torch.where(flat, torch.ones_like(s), s)
        j = round_half_away(torch.clamp((rows - lo) / s_safe, 0.0, top))
        qv = torch.where(flat.expand_as(rows), rows, s_safe * j + lo)
        inside = torch.where(flat.expand_as(rows), torch.ones_like(rows),
                             ((rows >= lo) & (rows <= hi)).to(rows.dtype))
    # value qv, gradient inside * dL/dq
    out = qv + (rows - rows.detach()) * inside
    return out.reshape(w.shape)


def dtrelu(x, lo, hi, bits):
    """runtime/dtrelu.h: y = grid value of clip(x, lo, hi); dx = 1 on
    [lo, hi]; dlo = sum of dy where x < lo, dhi = sum where x > hi; when
    hi <= lo, y = hi, dx = 0, dlo = 0, dhi = sum of dy."""
    torch = _torch()
    if not bool(hi > lo):
        return hi.expand_as(x) + 0 * x.detach()
    top = float(2 ** bits - 1)
    with torch.no_grad():
        s = (hi - lo) / top
        j = round_half_away(torch.clamp((x - lo) / s, 0.0, top))
        y = s * j + lo
        inside = ((x >= lo) & (x <= hi)).to(x.dtype)
        below = (x < lo).to(x.dtype)
        above = (x > hi).to(x.dtype)
    return (y + (x - x.detach()) * inside + (lo - lo.detach()) * below
            + (hi - hi.detach()) * above)


def threshold_act(x, kind, t, v=None):
    """runtime/threshold_act.h's naive dynamic threshold, DDTReLU and
    piecewise linear activations over sorted thresholds t (values v)."""
    torch = _torch()
    k = t.shape[0]
    flat = x.reshape(-1)
    with torch.no_grad():
        td = t.detach()
        inside = ((flat >= td[0]) & (flat <= td[-1])).to(x.dtype)
    if kind == "naivedt":
        with torch.no_grad():
            idx = torch.clamp(torch.searchsorted(td, flat, right=True) - 1, 0, k - 1)
        y = t[idx] + (flat - flat.detach()) * inside
    elif kind == "ddtrelu":
        with torch.no_grad():
            mid = (td[:-1] + td[1:]) / 2
            idx = torch.searchsorted(mid, flat, right=True)
        y = t[idx] + (flat - flat.detach()) * inside
    else:
        with torch.no_grad():
            j = torch.clamp(torch.searchsorted(td, flat, right=True) - 1, 0, k - 2)
        t0, t1, v0, v1 = t[j], t[j + 1], v[j], v[j + 1]
        w = (flat - t0) / (t1 - t0)
        mid = v0 + w * (v1 - v0)
        y = torch.where(flat < td[0], v[0].expand_as(flat),
                        torch.where(flat >= td[-1], v[-1].expand_as(flat), mid))
    return y.reshape(x.shape)


def exact_constant_channels(x, y, beta):
    """A batch-statistics batchnorm of a channel whose values are all equal
    gives beta exactly (x - mean = 0); F.batch_norm's mean leaves rounding
    noise there, which the next relu or threshold (at 0 = beta, as
    initialised) turns into a different derivative mask.  Such channels
    take the value beta, the gradient F.batch_norm's."""
    torch = _torch()
    with torch.no_grad():
        flat = x.transpose(0, 1).reshape(x.shape[1], -1)
        const = flat.max(dim=1)[0] == flat.min(dim=1)[0]
        if not bool(const.any()):
            return y, False
        shape = [1, -1] + [1] * (x.dim() - 2)
        mask = const.view(shape).expand_as(y)
        target = beta.detach().view(shape).expand_as(y)
        fix = torch.where(mask, y.detach() - target, torch.zeros_like(y))
    return y - fix, True


class NoiseFeed:
    """The runtime's standard normal draws of one pass, in the order drawn;
    each noise layer takes its input's count in the runtime's layout of
    its input (runtime/kernels.h): channel-major [c][b][h][w] for an image
    once a normalize, conv, pool or batchnorm has put it so, rows
    ([b][c][h][w], or [b][f] for a flat vector) before that and after
    flatten and linear."""

    def __init__(self, draws):
        torch = _torch()
        self.draws = torch.as_tensor(draws, dtype=torch.float64).reshape(-1)
        self.used = 0

    def __call__(self, shape, rows=False):
        """rows: the runtime holds this input as rows ([b][...], NCHW)."""
        n = int(math.prod(shape))
        if self.used + n > self.draws.numel():
            raise ValueError(f"noise: the pass wants more than the {self.draws.numel()} draws dumped")
        xi = self.draws[self.used:self.used + n]
        self.used += n
        if len(shape) == 2 or rows:
            return xi.view(shape)
        b, c = shape[0], shape[1]
        return xi.view(c, b, *shape[2:]).transpose(0, 1)


class Twin:
    """The model as PyTorch computes it, float64, its tensors in `p` (name
    -> tensor; trained ones require grad)."""

    def __init__(self, spec, values):
        torch = _torch()
        self.torch = torch
        self.spec = spec
        self.layers, self.regs, self.ensemble, self.train_cfg = validate(spec)
        self.tensors = tensors(self.layers, self.regs)
        self.terms = reg_terms(self.regs)
        self.p = {}
        for name, shape, kind in self.tensors:
            t = torch.tensor(values[name], dtype=torch.float64).reshape(shape).clone()
            if kind != "state":
                t.requires_grad_(True)
            self.p[name] = t
        self.noise = None
        # batchnorms that saw a channel of equal values in a batch-statistics
        # pass: variance 0, so 1/sqrt(eps) scales the rounding of its mean,
        # which decides the next relu's or threshold's derivative mask
        self.degenerate = set()
        self.ties = set()

    def note_ties(self, name, x, marks):
        """Records in self.ties the layers whose input lies within rounding
        (TIE_REL of its scale) of a kink or rounding boundary: there the
        runtime and PyTorch, whose sums round differently, may take
        different sides."""
        torch = self.torch
        with torch.no_grad():
            v = x.detach().reshape(-1)
            tol = TIE_REL * max(1.0, float(v.abs().max()) if v.numel() else 1.0)
            for m in marks:
                if bool(((v - m).abs() <= tol).any()):
                    self.ties.add(name)
                    return

    def trained(self):
        return [n for n, _, k in self.tensors if k != "state"]

    def state(self):
        return [n for n, _, k in self.tensors if k == "state"]

    def cancelled_biases(self):
        """{bias: its weight} of the biases (conv, linear, batchnorm shift)
        whose true gradient is zero in training mode: what lies between
        them and a batchnorm maps a per-channel constant to a per-channel
        constant (noise, pools, flatten, normalize, linear, a conv without
        padding, a residual block's add), so the batchnorm's mean takes the
        shift away, on every path from the bias on.  Both sides hold
        rounding noise there; it is judged on the weight's scale."""
        readers = {}
        for m in self.layers:
            for key in ("src", "src2"):
                if key in m:
                    readers.setdefault(m[key], []).append(m)

        def cancelled(uid):
            """Every path from node uid's output meets a batchnorm first."""
            ms = readers.get(uid, [])
            return bool(ms) and all(
                m["kind"] == "batchnorm" or
                (m["kind"] in ("noise", "avgpool", "maxpool", "flatten", "normalize", "linear",
                               "gap", "add")
                 or m["kind"] == "conv" and m["padding"] == (0, 0)) and cancelled(m["uid"])
                for m in ms)

        out = {}
        for l in self.layers:
            if l["kind"] in ("conv", "linear") and l["bias"] or l["kind"] == "batchnorm":
                if cancelled(l["uid"]):
                    out[f"{l['name']}.bias"] = f"{l['name']}.weight"
        return out

    def sort_thresholds(self):
        """The runtime sorts each activation's thresholds (carrying the
        values) before every use, in place."""
        torch = self.torch
        with torch.no_grad():
            for l in self.layers:
                if l["kind"] in ("pwlinear", "naivedt", "ddtrelu"):
                    t = self.p[f"{l['name']}.thresholds"]
                    order = torch.sort(t, stable=True)[1]
                    t.copy_(t[order].clone())
                    if l["kind"] == "pwlinear":
                        v = self.p[f"{l['name']}.values"]
                        v.copy_(v[order].clone())

    def forward(self, x, mode):
        """mode: train (batch statistics, running ones updated), frozen
        (batch statistics, running ones kept) or eval."""
        torch = self.torch
        F = torch.nn.functional
        self.sort_thresholds()
        p = self.p
        # each node's output, and whether the runtime holds it as rows
        # (for the noise draws)
        value, layout = {None: x}, {None: True}
        for l in self.layers:
            k, n = l["kind"], l["name"]
            x, rows = value[l["src"]], layout[l["src"]]
            if k in ("normalize", "conv", "avgpool", "maxpool") or \
                    k == "batchnorm" and len(l["in"]) == 3:
                rows_next = False
            elif k in ("flatten", "linear", "gap"):
                rows_next = True
            else:
                rows_next = rows    # an add: the main path's layout
            if k == "add":
                x = x + value[l["src2"]]
            elif k == "normalize":
                mean = torch.tensor(l["mean"], dtype=x.dtype).view(1, -1, 1, 1)
                std = torch.tensor(l["std"], dtype=x.dtype).view(1, -1, 1, 1)
                if x.dim() == 2:
                    mean, std = mean.view(1, -1), std.view(1, -1)
                x = (x - mean) / std
            elif k in ("conv", "linear"):
                w = p[f"{n}.weight"]
                if l.get("quant"):
                    w = fake_quant(w, l["quant"])
                b = p.get(f"{n}.bias") if l["bias"] else None
                if k == "conv":
                    x = F.conv2d(x, w, b, stride=l["strides"], padding=l["padding"])
                else:
                    x = F.linear(x, w, b)
            elif k == "batchnorm":
                rm, rv = p[f"{n}.running_mean"], p[f"{n}.running_var"]
                if mode == "eval":
                    x = F.batch_norm(x, rm, rv, p[f"{n}.weight"], p[f"{n}.bias"], False, 0.1, 1e-5)
                else:
                    xin = x
                    x = F.batch_norm(x, rm if mode == "train" else None,
                                     rv if mode == "train" else None,
                                     p[f"{n}.weight"], p[f"{n}.bias"], True, 0.1, 1e-5)
                    x, const = exact_constant_channels(xin, x, p[f"{n}.bias"])
                    if const:
                        self.degenerate.add(n)
            elif k == "relu":
                self.note_ties(n, x, [0.0])
                x = F.relu(x)
            elif k == "avgpool":
                x = F.avg_pool2d(x, l["k"], l["stride"])
            elif k == "maxpool":
                x = F.max_pool2d(x, l["k"], l["stride"])
            elif k == "flatten":
                x = torch.flatten(x, 1)
            elif k == "gap":
                x = x.mean(dim=(2, 3))
            elif k == "leakyrelu":
                self.note_ties(n, x, [0.0])
                x = F.leaky_relu(x, l["slope"])
            elif k == "tanh":
                x = torch.tanh(x)
            elif k == "sigmoid":
                x = torch.sigmoid(x)
            elif k == "dropout":
                # training passes only, its masks the runtime's normal draws
                # against the p-quantile (runtime/dropout.h)
                if mode == "train" and l["p"] > 0:
                    z = self.noise(tuple(x.shape), rows) if self.noise else torch.randn_like(x)
                    keep = z >= normal_quantile(l["p"])
                    x = x * torch.where(keep, 1 / (1 - l["p"]), 0.0).to(x.dtype)
            elif k == "noise":
                xi = self.noise(tuple(x.shape), rows) if self.noise else torch.randn_like(x)
                x = x + l["sigma"] * xi
            elif k == "dtrelu":
                lo, hi = float(p[f"{n}.lo"]), float(p[f"{n}.hi"])
                marks = [lo, hi]
                if hi > lo:     # the grid's rounding boundaries
                    step = (hi - lo) / (2 ** l["bits"] - 1)
                    marks += [lo + (j + 0.5) * step for j in range(2 ** l["bits"] - 1)]
                self.note_ties(n, x, marks)
                x = dtrelu(x, p[f"{n}.lo"], p[f"{n}.hi"], l["bits"])
            elif k in ("pwlinear", "naivedt", "ddtrelu"):
                t = [float(v) for v in p[f"{n}.thresholds"]]
                marks = t + ([(a + b) / 2 for a, b in zip(t, t[1:])] if k == "ddtrelu" else [])
                self.note_ties(n, x, marks)
                x = threshold_act(x, k, p[f"{n}.thresholds"], p.get(f"{n}.values"))
            else:
                raise ValueError(k)
            value[l["uid"]], layout[l["uid"]] = x, rows_next
        return x

    # ---- regularisers (runtime/orthogonal.h, spectral.h) ----

    def regularize(self):
        """(total for backward, {term: value}, {state tensor: next value}).
        Spectral terms: the power iteration from the stored v (or from
        ones / sqrt(n) when restarted or v is zero), its gradient u v^T with
        u, v held constant."""
        torch = self.torch
        F = torch.nn.functional
        byname = {l["name"]: l for l in self.layers}
        total = 0
        terms, state = {}, {}
        for term, kind, lname, st, j in self.terms:
            l = byname[lname]
            w = self.p[f"{lname}.weight"]
            wt = st["weight"]
            if kind == "orthogonal":
                m = w.reshape(w.shape[0], -1)
                a = m.t() @ m
                form = st.get("form", 4)
                eye = torch.eye(a.shape[0], dtype=a.dtype)
                if form == 1:
                    pen = torch.linalg.matrix_norm(a - eye)
                elif form == 2:
                    pen = torch.linalg.matrix_norm(m @ m.t() - torch.eye(m.shape[0], dtype=a.dtype))
                elif form == 3:
                    pen = torch.linalg.matrix_norm(a * (1 - eye))
                else:
                    pen = torch.linalg.matrix_norm(a / torch.linalg.matrix_norm(a) - eye)
                if pen.item() < 1e-12:
                    # P = 0 (up to rounding: a one-column W in form 4 is
                    # always 0): its gradient is taken as 0 (orthogonal.h)
                    pen = pen.detach()
                terms[term] = wt * pen.item()
                total = total + wt * pen
                continue
            s = "sn" if j == 1 else f"sn{j}"
            v = self.p[f"{lname}.{s}_v"]
            iters = st.get("iters", 1)
            restart = not st.get("persistent", 1)
            with torch.no_grad():
                if restart or not bool((v != 0).any()):
                    v = torch.full_like(v, 1.0 / math.sqrt(v.numel()))
                for _ in range(iters):
                    if l["kind"] == "conv":
                        wv = F.conv2d(v[None], w, stride=l["strides"], padding=l["padding"])[0]
                    else:
                        wv = w @ v
                    nu = torch.linalg.vector_norm(wv)
                    u = wv / nu if bool(nu > 0) else wv
                    if l["kind"] == "conv":
                        h, wd = l["in"][1], l["in"][2]
                        (kh, kw), (sh, sw), (ph, pw) = l["kernel"], l["strides"], l["padding"]
                        base_h = (u.shape[1] - 1) * sh - 2 * ph + kh
                        base_w = (u.shape[2] - 1) * sw - 2 * pw + kw
                        wtu = F.conv_transpose2d(u[None], w, stride=l["strides"],
                                                 padding=l["padding"],
                                                 output_padding=(h - base_h, wd - base_w))[0]
                    else:
                        wtu = w.t() @ u
                    sigma = torch.linalg.vector_norm(wtu)
                    v = wtu / sigma if bool(sigma > 0) else wtu
            if l["kind"] == "conv":
                s_grad = (u * F.conv2d(v[None], w, stride=l["strides"],
                                       padding=l["padding"])[0]).sum()
            else:
                s_grad = u @ (w @ v)
            terms[term] = wt * sigma.item()
            total = total + wt * s_grad
            state[f"{lname}.{s}_u"], state[f"{lname}.{s}_v"] = u, v
        return total, terms, state

    def commit(self, state):
        with self.torch.no_grad():
            for n, t in state.items():
                self.p[n].copy_(t)


def clone_spec(spec):
    return copy.deepcopy(spec)
