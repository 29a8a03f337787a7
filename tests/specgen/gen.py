"""gen.py - random model specs for the spec fuzzer (tests/specgen/specgen.py), in
the spirit of Csmith / NNSmith: a random chain of layers over a small input
(1 or 3 channels, square or not), every layer kind and parameter the spec
language takes (images ended by flatten or gap), residual blocks now and
then (`Gen.residual`), with or without each
patch statement (the training recipes: optimisers, schedules, warm-up,
augmentation), and now and then one deliberate fault that advcc must
reject at a known line.

A case is a JSON-able dict (see tests/oracle/specgen_twin.py for the layer
dicts):
  name, input [c, h, w], classes, layers [...], patches [...],
  style "inline" (patch statements at the end of the model) or "patch"
  (a patch block and `model NAME = NAME_base + NAME_p`),
  chain: how the layers are laid out on lines, fault: what was broken.
`render(case)` writes the spec and sets each layer's and statement's
"line"; specgen_twin.validate(case) says whether it must compile.

Everything follows from (seed, index): python3 tests/specgen/gen.py SEED INDEX
prints one case's spec.
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
import specgen_twin  # noqa: E402
from specgen_twin import SpecError  # noqa: E402


def num(r, lo, hi, digits=3):
    """A short decimal in [lo, hi] (what the spec writes is what is meant)."""
    return round(r.uniform(lo, hi), digits)


def fmt(v):
    if isinstance(v, list):         # a pair (height, width)
        return "(" + ", ".join(fmt(x) for x in v) + ")"
    if isinstance(v, float):
        s = repr(v)
        return s[:-2] if s.endswith(".0") else s
    return str(v)


def dropout(r):
    d = {"kind": "dropout"}
    if r.random() < 0.7:
        d["p"] = r.choice([0, 0.1, 0.25, 0.5, 0.8])
    return d


def activation(r, kind=None):
    kind = kind or r.choice(specgen_twin.ACTIVATIONS)
    a = {"kind": kind}
    if kind in specgen_twin.PLAIN_ACTIVATIONS:
        return a
    if kind == "leakyrelu":
        if r.random() < 0.7:
            a["slope"] = r.choice([0.01, 0.1, 0.3, 0, -0.5, 1.5])
        return a
    if r.random() < 0.7:
        lo = num(r, -1.0, 0.3)
        a["lo"] = lo
        a["hi"] = round(lo + num(r, 0.3, 2.0), 3)
    if kind == "dtrelu":
        if r.random() < 0.7:
            a["bits"] = r.randint(2, 8)
    else:
        if r.random() < 0.3:
            a["bits"] = r.randint(2, 3)     # levels = 2^bits - 1
        else:
            a["levels"] = r.randint(2, 9)
    return a


class Gen:
    def __init__(self, seed, index, flat_bn=True):
        self.r = random.Random(f"{seed}/{index}")
        # Rectangular windows draw from their own stream, so that the
        # square specs of a seed stay what they were.
        self.rect = random.Random(f"{seed}/{index}/rect")
        # Residual blocks too, so that the specs without one stay what
        # they were.
        self.rb = random.Random(f"{seed}/{index}/residual")
        self.name = f"fz_{seed}_{index}"
        self.flat_bn = flat_bn

    def image_layer(self, shape):
        """One layer valid on the image `shape` (c, h, w); None when the
        choice does not fit."""
        r = self.r
        c, h, w = shape
        k = r.choice(["conv", "conv", "conv", "batchnorm", "act", "act", "avgpool", "maxpool",
                      "noise", "normalize", "dropout"])
        if k == "conv":
            kk = r.randint(1, min(4, h, w) + (1 if min(h, w) >= 5 else 0))
            l = {"kind": "conv", "out": r.randint(1, 4), "k": kk}
            pad = 0
            if r.random() < 0.5:
                if kk % 2 and r.random() < 0.5:
                    l["pad"], pad = "same", (kk - 1) // 2
                elif r.random() < 0.2:
                    l["pad"] = "valid"
                else:
                    pad = r.randint(0, kk // 2 + 1)
                    l["pad"] = pad
            if r.random() < 0.35:
                l["stride"] = r.randint(1, 3)
            if r.random() < 0.3:
                l["bias"] = r.randint(0, 1)
            pad = self.rectangular(l, w, pad)
            kh, kw = specgen_twin.pair(l["k"])
            if kh > h + 2 * pad[0] or kw > w + 2 * pad[1]:
                return None
            return l
        if k in ("avgpool", "maxpool"):
            kk = r.randint(1, min(3, h, w))
            l = {"kind": k, "k": kk}
            if r.random() < 0.4:
                l["stride"] = r.randint(1, 3)
            return l
        if k == "batchnorm":
            return {"kind": "batchnorm"}
        if k == "act":
            return activation(r)
        if k == "noise":
            return {"kind": "noise", "sigma": r.choice([0, 0.05, 0.1, 0.3])}
        if k == "dropout":
            return dropout(r)
        if k == "normalize":
            return {"kind": "normalize", "mean": [num(r, -0.5, 0.5) for _ in range(c)],
                    "std": [num(r, 0.2, 2.0) for _ in range(c)]}
        return None

    def rectangular(self, l, w, pad):
        """Now and then makes conv l's kernel, stride or padding a pair
        [height, width] of different sizes, for an input w wide; the
        padding per axis."""
        r = self.rect
        kh = l["k"]
        if r.random() < 0.3:
            odd = l.get("pad") == "same"
            sizes = [k for k in range(1, min(4, w) + (2 if w >= 5 else 1))
                     if k != kh and (k % 2 or not odd)]
            if sizes:
                kw = r.choice(sizes)
                l["k"] = [kh, kw]
                if odd:
                    return (pad, (kw - 1) // 2)
        kw = specgen_twin.pair(l["k"])[1]
        if "stride" in l and r.random() < 0.3:
            l["stride"] = [l["stride"], r.randint(1, 3)]
        if isinstance(l.get("pad"), int) and r.random() < 0.3:
            l["pad"] = [pad, r.randint(0, kw // 2 + 1)]
            return tuple(l["pad"])
        return (pad, pad)

    def flat_layer(self):
        r = self.r
        k = r.choice(["linear", "linear", "act", "act", "batchnorm", "noise", "dropout"])
        if k == "linear":
            l = {"kind": "linear", "out": r.randint(2, 8)}
            if r.random() < 0.3:
                l["bias"] = r.randint(0, 1)
            return l
        if k == "batchnorm":
            return {"kind": "batchnorm"} if self.flat_bn else None
        if k == "act":
            return activation(r)
        if k == "dropout":
            return dropout(r)
        return {"kind": "noise", "sigma": r.choice([0, 0.1, 0.2])}

    def case(self):
        r = self.r
        c = r.choice([1, 3])
        h = r.randint(4, 10)
        w = h if r.random() < 0.5 else r.randint(4, 10)
        classes = r.randint(2, 5)
        spec = {"name": self.name, "input": [c, h, w], "classes": classes, "layers": [],
                "patches": []}
        layers = spec["layers"]
        if r.random() < 0.5:
            layers.append({"kind": "normalize", "mean": [num(r, 0.2, 0.6) for _ in range(c)],
                           "std": [num(r, 0.2, 0.5) for _ in range(c)]})
        # the image part: a few layers, each checked against the shape so far
        n_image = r.choice([0, 1, 2, 3, 4, 5, 6, 7])
        shape = (c, h, w)
        tries = 0
        while n_image > 0 and tries < 40:
            tries += 1
            block = self.residual(spec, layers, 0.1)
            if block:
                layers += block
                shape = prefix_shape(spec, layers)
                n_image -= 1
                continue
            l = self.image_layer(shape)
            if l is None:
                continue
            out = prefix_shape(spec, layers + [l])
            if out is None or len(out) != 3:
                continue
            layers.append(l)
            shape = out
            n_image -= 1
        # end: flatten then flat layers and a linear to the classes, or a
        # last image of exactly `classes` values flattened
        flat = shape[0] * shape[1] * shape[2]
        if flat == classes and r.random() < 0.7:
            layers.append({"kind": "flatten"})
            if r.random() < 0.5:
                layers.append(activation(r))
        else:
            # global average pooling ends the images as flatten does
            layers.append({"kind": "gap" if r.random() < 0.2 else "flatten"})
            for _ in range(r.choice([0, 0, 1, 2, 3, 4])):
                block = self.residual(spec, layers, 0.15)
                if block:
                    layers += block
                    continue
                l = self.flat_layer()
                if l:
                    layers.append(l)
            last = {"kind": "linear", "out": classes}
            if r.random() < 0.2:
                last["bias"] = 0
            layers.append(last)
            if r.random() < 0.15:
                layers.append({"kind": "noise", "sigma": 0.1})
        # explicit names now and then
        for i, l in enumerate(layers):
            if r.random() < 0.1 and l["kind"] != "residual":
                l["name"] = f"L{i}x"
        self.patches(spec)
        if r.random() < 0.2 and len(layers) >= 2:
            start = r.randrange(len(layers) - 1)
            spec["macro"] = {"start": start, "len": r.randint(1, min(3, len(layers) - start))}
        spec["style"] = r.choice(["inline", "patch"]) if spec["patches"] else "inline"
        spec["chain"] = r.choice(["lines", "arrows", "mixed"])
        if r.random() < 0.12:
            spec.pop("macro", None)     # faults are located outside macros
            self.fault(spec)
        return spec

    def residual(self, spec, layers, chance, depth=0):
        """With probability `chance`, a residual block for the end of
        `layers` (over images or flat features), and now and then an
        activation after it: an identity block whose main path keeps the
        shape (now and then a shortcut of its own all the same), or a
        projection (a strided or widening conv, a linear of another width)
        whose shortcut makes the main path's shape; now and then a block
        nested in a main path.  [layers], or None."""
        r = self.rb
        if r.random() >= chance:
            return None
        shape = prefix_shape(spec, layers)
        if shape is None:
            return None

        def fits(path, want):
            return prefix_shape(dict(spec, input=list(shape)), path) == want

        image = len(shape) == 3
        c = shape[0]
        project = r.random() < 0.4
        width = r.randint(1, 4) if image else r.randint(2, 8)
        main, short = [], None
        if project and image:
            stride = r.choice([1, 2, 2, 3])
            first = {"kind": "conv", "out": width, "k": 3, "stride": stride, "pad": "same"}
            main.append(first)
            short = [{"kind": "conv", "out": width, "k": 1, "stride": stride, "bias": 0}]
            if r.random() < 0.6:
                short.append({"kind": "batchnorm"})
        elif project:
            main.append({"kind": "linear", "out": width})
            short = [{"kind": "linear", "out": width}]
        for _ in range(r.randint(0 if main else 1, 4)):
            cur = prefix_shape(dict(spec, input=list(shape)), main) if main else shape
            if cur is None:
                return None
            inner = (self.residual(dict(spec, input=list(cur)), [], 0.3, depth + 1)
                     if depth == 0 else None)
            if inner:
                main += inner
                continue
            k = r.choice(["weighted", "weighted", "batchnorm", "act", "act", "noise", "dropout"])
            if k == "weighted" and image:
                l = {"kind": "conv", "out": cur[0], "k": r.choice([1, 3, 3])}
                l["pad"] = r.choice(["same", (l["k"] - 1) // 2])
                if r.random() < 0.5:
                    l["bias"] = r.randint(0, 1)
            elif k == "weighted":
                l = {"kind": "linear", "out": cur[0]}
            elif k == "batchnorm":
                if not image and not self.flat_bn:
                    continue
                l = {"kind": "batchnorm"}
            elif k == "act":
                l = activation(r)
            elif k == "noise":
                l = {"kind": "noise", "sigma": r.choice([0.05, 0.1])}
            else:
                l = dropout(r)
            main.append(l)
        if not main:
            return None
        out = prefix_shape(dict(spec, input=list(shape)), main)
        if short is None and out == shape and r.random() < 0.2:
            # the shape kept, a shortcut all the same (a 1x1 conv, a layer
            # without weights)
            short = r.choice([[{"kind": "conv", "out": c, "k": 1}] if image else
                              [{"kind": "linear", "out": c}], [activation(r)],
                              [{"kind": "batchnorm"}] if image or self.flat_bn else []])
        if out is None or not fits(short or [], out):
            return None
        block = {"kind": "residual", "main": main}
        if short:
            block["shortcut"] = short
        after = []
        if r.random() < 0.7:
            after.append({"kind": "relu"} if r.random() < 0.6 else activation(r))
        return [block] + after

    def residual_fault(self, spec):
        """Now and then the fault of a residual block whose paths give
        different shapes (a main path that widens the image, no
        projection), reported at the block; whether it was made."""
        r = self.rb
        layers = spec["layers"]
        end = [j for j, l in enumerate(layers) if l["kind"] in ("flatten", "gap")][0]
        if r.random() >= 0.2:
            return False
        j = r.randint(0, end)
        shape = prefix_shape(spec, layers[:j])
        if shape is None or len(shape) != 3:
            return False
        layers.insert(j, {"kind": "residual", "main": [{"kind": "conv", "out": shape[0] + 1,
                                                         "k": 1}]})
        spec["fault"] = "residual_shape"
        if spec["patches"] and spec.get("style") is None:
            spec["style"] = "inline"
        return True

    def targets(self, spec, weights_only):
        """Target names for a statement: kinds present, or layer names."""
        r = self.r
        layers, _, _, _ = specgen_twin.apply_patches(spec)
        pool = [l for l in layers if not weights_only or l["kind"] in ("conv", "linear")]
        if not pool:
            return None
        out = []
        for _ in range(r.choice([1, 1, 2])):
            l = r.choice(pool)
            t = l["kind"] if r.random() < 0.6 else l["name"]
            if t not in out:
                out.append(t)
        return out

    def patches(self, spec):
        r = self.r
        ps = spec["patches"]
        for _ in range(r.choice([0, 0, 1, 2, 3, 4, 5])):
            st = r.choice(["quantize", "quantize", "regularize", "regularize", "replace",
                           "insert", "insert", "ensemble", "train", "train", "attack",
                           "augment"])
            if st == "quantize":
                t = self.targets(spec, True)
                if not t:
                    continue
                p = {"stmt": "quantize", "targets": t}
                if r.random() < 0.7:
                    p["bits"] = r.randint(2, 8)
                rng = r.choice([None, "minmax", "channel", "fixed"])
                if rng:
                    p["range"] = rng
                if rng == "fixed":
                    p["lo"] = num(r, -0.5, -0.05)
                    p["hi"] = num(r, 0.05, 0.5)
            elif st == "regularize":
                t = self.targets(spec, True)
                if not t:
                    continue
                if r.random() < 0.5:
                    p = {"stmt": "regularize", "kind": "orthogonal", "targets": t,
                         "weight": r.choice([1e-3, 0.1, 0.5])}
                    if r.random() < 0.8:
                        p["form"] = r.randint(1, 4)
                else:
                    p = {"stmt": "regularize", "kind": "spectral", "targets": t,
                         "weight": r.choice([1e-3, 0.1, 0.7])}
                    if r.random() < 0.6:
                        p["iters"] = r.randint(1, 4)
                    if r.random() < 0.6:
                        p["persistent"] = r.randint(0, 1)
            elif st == "replace":
                layers, _, _, _ = specgen_twin.apply_patches(spec)
                acts = [l for l in layers if l["kind"] in specgen_twin.ACTIVATIONS]
                if acts and r.random() < 0.7:
                    l = r.choice(acts)
                    with_ = activation(r)
                else:
                    # any layer by another of a fitting shape (those that do
                    # not fit are dropped by the validation below)
                    l = r.choice(specgen_twin.validate(spec)[0])
                    with_ = self.any_layer(l)
                    if with_ is None:
                        continue
                p = {"stmt": "replace", "targets": [l["kind"] if r.random() < 0.7 else l["name"]],
                     "with": with_}
            elif st == "insert":
                t = self.targets(spec, False)
                if not t:
                    continue
                kind = r.choice(["noise", "noise", "batchnorm", "act", "dropout", "any"])
                if kind == "any":
                    layers = specgen_twin.validate(spec)[0]
                    hit = [l for l in layers if specgen_twin.matches(l, t[0])]
                    layer = self.any_layer(hit[0]) if hit else None
                    if layer is None or layer["kind"] == "batchnorm" and not self.flat_bn:
                        continue
                elif kind == "noise":
                    layer = {"kind": "noise", "sigma": r.choice([0.05, 0.1, 0.2])}
                elif kind == "dropout":
                    layer = dropout(r)
                elif kind == "batchnorm":
                    if not self.flat_bn:
                        # batchnorm of a flat input left out (see fuzz.py)
                        t = [x for x in t if self._all_image(spec, x)]
                        if not t:
                            continue
                    layer = {"kind": "batchnorm"}
                else:
                    layer = activation(r)
                p = {"stmt": "insert", "layer": layer, "where": r.choice(["before", "after"]),
                     "targets": t}
                if layer["kind"] == "noise" and r.random() < 0.5:
                    p["first"] = r.choice([0.2, 0.3])
            elif st == "ensemble":
                p = {"stmt": "ensemble", "n": r.randint(1, 4)}
                if r.random() < 0.7:
                    p["average"] = r.choice(["logits", "probs"])
            elif st == "train":
                p = self.recipe()
            elif st == "augment":
                p = {"stmt": "augment"}
                if r.random() < 0.8:
                    p["crop"] = r.randint(0, 4)
                if r.random() < 0.8:
                    p["flip"] = r.randint(0, 1)
            elif r.random() < 0.5:
                p = {"stmt": "attack", "eps": r.choice(["4/255", "8/255"]),
                     "steps": r.randint(1, 3)}
            else:
                p = {"stmt": "adversarial", "eps": r.choice(["2/255", "8/255"]),
                     "steps": r.randint(1, 3)}
            trial = dict(spec, patches=ps + [p])
            try:
                specgen_twin.validate(trial)
            except SpecError:
                continue
            ps.append(p)

    def recipe(self):
        """A `train` statement: an optimiser with its keys, now and then a
        schedule with its keys and a warm-up."""
        r = self.r
        opt = r.choice(["sgd", "sgd", "adam", "adamw"])
        p = {"stmt": "train", "optimizer": opt, "lr": r.choice([0.01, 0.05, 0.1]),
             "weight_decay": r.choice([0, 0, 1e-3, 0.05])}
        if opt == "sgd":
            p["momentum"] = r.choice([0, 0.5, 0.9])
            if p["momentum"] and r.random() < 0.3:
                p["nesterov"] = 1
        else:
            p["lr"] = r.choice([1e-3, 0.01])
            for key, values in (("beta1", [0.8, 0.9]), ("beta2", [0.99, 0.999]),
                                ("eps", [1e-8, 1e-6])):
                if r.random() < 0.3:
                    p[key] = r.choice(values)
        if r.random() < 0.5:
            kind = r.choice(["constant", "multistep", "cosine", "onecycle", "piecewise"])
            p["schedule"] = kind
            if kind == "multistep":
                p["milestones"] = r.choice([[1], [1, 2], [2, 5]])
                if r.random() < 0.5:
                    p["gamma"] = r.choice([0.1, 0.5])
            elif kind == "cosine" and r.random() < 0.5:
                p["min_lr"] = 1e-4
            elif kind == "onecycle":
                for key, values in (("pct", [0.2, 0.5]), ("div", [10, 25]),
                                    ("final_div", [100, 1e4])):
                    if r.random() < 0.4:
                        p[key] = r.choice(values)
            elif kind == "piecewise":
                p["knots"], p["factors"] = r.choice([([0, 2, 5], [0, 1, 0]),
                                                     ([0, 1], [0.5, 1]), ([1], [0.3])])
            if r.random() < 0.3:
                p["warmup"] = r.randint(1, 2)
        return p

    def any_layer(self, near):
        """A random layer for the place of `near` (image or flat layers as
        its input is), or None."""
        shape = near.get("in")
        if shape is None:
            return None
        if len(shape) == 3:
            return self.image_layer(shape)
        return self.flat_layer()

    def _all_image(self, spec, target):
        """Whether every layer `target` matches, and its neighbours, work
        on images (so that a batchnorm put before or after it is a 2-D
        one)."""
        layers, _, _, _ = specgen_twin.apply_patches(spec)
        try:
            specgen_twin.infer_shapes(spec, layers)
        except SpecError:
            return False
        for l in layers:
            if specgen_twin.matches(l, target):
                if len(l["in"]) != 3 or len(l["out_shape"]) != 3:
                    return False
        return True

    def fault(self, spec):
        """One change that advcc must reject."""
        if self.residual_fault(spec):
            return
        r = self.r
        layers = spec["layers"]
        kinds = ["even_same", "big_kernel", "no_flatten", "two_flatten", "bad_normalize",
                 "classes", "bounds", "levels", "target", "quant_target", "big_pool",
                 "image_end", "late_normalize", "image_after_flat", "dropout_p"]
        k = r.choice(kinds)
        # where the images end (flatten or gap)
        end = [j for j, l in enumerate(layers) if l["kind"] in ("flatten", "gap")][0]
        convs = [l for l in layers if l["kind"] == "conv"]
        if k == "even_same" and convs:
            l = r.choice(convs)
            l["k"] = 2 * r.randint(1, 2)
            l["pad"] = "same"
        elif k == "big_kernel" and convs:
            l = r.choice(convs)
            l["k"] = 13
            l["pad"] = 0
        elif k == "big_pool":
            layers.insert(0, {"kind": r.choice(["avgpool", "maxpool"]), "k": 11})
        elif k == "no_flatten":
            spec["layers"] = [l for l in layers if l["kind"] != "flatten"]
        elif k == "two_flatten":
            layers.insert(end, {"kind": "flatten"})
        elif k == "bad_normalize":
            c = spec["input"][0]
            layers.insert(0, {"kind": "normalize", "mean": [0.5] * (4 - c),
                              "std": [0.5] * (4 - c)})
        elif k == "classes":
            spec["classes"] += 1
        elif k == "image_end":
            # advcc reports a patch's target that the cut removed before
            # the base model's end: only cuts that leave every target
            if any(t not in specgen_twin.PREFIX for p in spec["patches"]
                   for t in p.get("targets", [])):
                return
            spec["layers"] = layers[:end]
            if not spec["layers"]:
                spec["layers"] = [{"kind": "relu"}]
        elif k == "bounds":
            a = activation(r, r.choice(["dtrelu", "pwlinear", "naivedt", "ddtrelu"]))
            a["lo"], a["hi"] = 0.5, r.choice([0.5, -0.25])
            layers.insert(r.randint(0, len(layers) - 1), a)
        elif k == "levels":
            a = {"kind": r.choice(["pwlinear", "naivedt", "ddtrelu"])}
            if r.random() < 0.5:
                a["bits"] = 9
            else:
                a["levels"] = 257
            layers.insert(r.randint(0, len(layers) - 1), a)
        elif k == "target":
            spec["patches"].append({"stmt": "insert", "layer": {"kind": "noise", "sigma": 0.1},
                                    "where": "before", "targets": ["nosuchlayer"]})
        elif k == "quant_target":
            spec["patches"].append({"stmt": r.choice(["quantize", "regularize"]),
                                    "kind": "orthogonal", "weight": 0.1,
                                    "targets": [r.choice(["batchnorm", "relu", "flatten"])]})
        elif k == "late_normalize":
            # normalize reads the input images: after a conv, pool, batchnorm,
            # flatten or linear it is an error (README)
            after = [j for j, l in enumerate(layers)
                     if l["kind"] in ("conv", "avgpool", "maxpool", "batchnorm")]
            if not after:
                return
            j = r.choice(after)
            shape = prefix_shape(spec, layers[:j + 1])
            if shape is None or len(shape) != 3:
                return
            layers.insert(j + 1, {"kind": "normalize", "mean": [0.5] * shape[0],
                                  "std": [0.5] * shape[0]})
        elif k == "dropout_p":
            layers.insert(r.randint(0, len(layers) - 1),
                          {"kind": "dropout", "p": r.choice([1, 1.5, -0.1])})
        elif k == "image_after_flat":
            i = end
            layers.insert(i + 1 + r.randint(0, len(layers) - i - 2),
                          r.choice([{"kind": "conv", "out": 2, "k": 1},
                                    {"kind": "maxpool", "k": 1},
                                    {"kind": "avgpool", "k": 1}]))
        else:
            return
        spec["fault"] = k
        if spec["patches"] and spec.get("style") is None:
            spec["style"] = "inline"


def prefix_shape(spec, layers):
    """The output shape of `layers` over the spec's input (patches left
    out, the class count not checked), or None when they do not fit."""
    trial = dict(spec, layers=layers, patches=[])
    try:
        ls, _, _, _ = specgen_twin.apply_patches(trial)
        specgen_twin.infer_shapes(dict(trial, classes=-1), ls)
    except SpecError as e:
        if "last layer" not in str(e):
            return None
    return ls[-1]["out_shape"] if ls else tuple(spec["input"])


# ---- rendering ---------------------------------------------------------------

def expr(v, r):
    """v as written: now and then an expression of the same value (the
    language takes 2*3, 1/10, ...)."""
    if isinstance(v, list):
        return "(" + ", ".join(expr(x, r) for x in v) + ")"
    if r is None or r.random() > 0.15:
        return fmt(v)
    if isinstance(v, int) and v >= 2 and v % 2 == 0:
        return f"2*{v // 2}"
    if isinstance(v, int):
        return f"{v + 1}-1"
    tenths = {0.1: "1/10", 0.2: "2/10", 0.3: "3/10", 0.05: "1/20", 0.5: "1/2"}
    return tenths.get(v, fmt(v))


def layer_text(l, r=None, subst=None):
    """One layer as written; subst maps a parameter to a macro argument's
    name, r (a Random) writes some numbers as expressions."""
    subst = subst or {}
    k = l["kind"]
    if k == "residual":
        return residual_text(l, r)
    words = [k]

    def val(key):
        if key in subst and isinstance(l[key], list):   # the parameter inside the pair
            return "(" + ", ".join([subst[key]] + [expr(x, r) for x in l[key][1:]]) + ")"
        return subst.get(key) or expr(l[key], r)

    if k == "conv":
        words += [val("out"), val("k")]
        for key in ("stride", "pad", "bias"):
            if key in l:
                words.append(f"{key}={fmt(l[key])}")
    elif k in ("avgpool", "maxpool"):
        words.append(val("k"))
        if "stride" in l:
            words.append(f"stride={l['stride']}")
    elif k == "linear":
        words.append(val("out"))
        if "bias" in l:
            words.append(f"bias={l['bias']}")
    elif k == "normalize":
        words.append("mean=(" + ", ".join(fmt(v) for v in l["mean"]) + ")")
        words.append("std=(" + ", ".join(fmt(v) for v in l["std"]) + ")")
    elif k == "noise":
        words.append(f"sigma={expr(l['sigma'], r)}")
    elif k == "leakyrelu" and "slope" in l:
        words.append(f"slope={fmt(l['slope'])}")
    elif k == "dropout" and "p" in l:
        words.append(f"p={expr(l['p'], r)}")
    elif k in ("dtrelu", "pwlinear", "naivedt", "ddtrelu"):
        for key in ("bits", "lo", "hi", "levels"):
            if key in l:
                words.append(f"{key}={fmt(l[key])}")
    if "name" in l:
        words.append(f"name={l['name']}")
    return " ".join(words)


def residual_text(l, r=None):
    """A residual block on one line: residual { A -> B } [shortcut { C }]."""
    def path(ls):
        return " -> ".join(layer_text(m, r) for m in ls)
    text = f"residual {{ {path(l['main'])} }}"
    if "shortcut" in l:
        text += f" shortcut {{ {path(l['shortcut'])} }}"
    return text


def residual_lines(l, r, line, out):
    """Writes a residual block over lines onto out, beginning with the
    text `line`: `residual {`, its main path as one or two chains of lines
    of their own, `} shortcut {` and the shortcut's, each layer's "line"
    set; returns the closing `}`, which the chain may go on from."""
    out.append(line + "residual {")
    l["line"] = len(out)
    for key, head in (("main", None), ("shortcut", "  } shortcut {")):
        if key not in l:
            continue
        if head:
            out.append(head)
        ls = l[key]
        cut = r.randint(1, len(ls))
        for part in (ls[:cut], ls[cut:]):
            if part:
                out.append("    " + " -> ".join(layer_text(m, r) for m in part))
                for m in part:
                    set_line(m, len(out))
    return "  }"


def set_line(l, line):
    """l["line"] = line, and so for the layers of a residual block."""
    l["line"] = line
    for m in l.get("main", []) + l.get("shortcut", []):
        set_line(m, line)


def stmt_text(p):
    st = p["stmt"]
    if st == "quantize":
        s = "quantize " + ", ".join(p["targets"])
        for key in ("bits", "range", "lo", "hi"):
            if key in p:
                s += f" {key}={fmt(p[key])}"
        return s
    if st == "regularize":
        s = f"regularize {', '.join(p['targets'])} {p['kind']} weight={fmt(p['weight'])}"
        for key in ("form", "iters", "persistent"):
            if key in p:
                s += f" {key}={p[key]}"
        return s
    if st == "replace":
        return f"replace {', '.join(p['targets'])} with {layer_text(p['with'])}"
    if st == "insert":
        s = f"insert {layer_text(p['layer'])}"
        if "first" in p:
            s += f" first={fmt(p['first'])}"
        return s + f" {p['where']} {', '.join(p['targets'])}"
    if st == "ensemble":
        return f"ensemble {p['n']}" + (f" average={p['average']}" if "average" in p else "")
    if st == "train":
        s = f"train {p.get('optimizer', 'sgd')}"
        for key in ("lr", "momentum", "nesterov", "beta1", "beta2", "eps", "weight_decay",
                    "schedule", "milestones", "gamma", "min_lr", "pct", "div", "final_div",
                    "knots", "factors", "warmup"):
            if key in p:
                v = p[key]
                s += f" {key}=" + ("(" + ", ".join(fmt(x) for x in v) + ")"
                                   if isinstance(v, list) else fmt(v))
        return s
    if st == "augment":
        return "augment" + "".join(f" {key}={p[key]}" for key in ("crop", "flip") if key in p)
    if st == "attack":
        return f"attack pgd eps={p['eps']} steps={p['steps']}"
    if st == "adversarial":
        return f"train adversarial eps={p['eps']} steps={p['steps']}"
    raise ValueError(st)


def render(spec):
    """The spec text; sets "line" in every layer and statement dict.
    Layers go one a line, chained with -> (on one line or continued on the
    next), or two on a line separated by ';', with comments between; a
    run of them may be a macro called once (spec["macro"]); a residual
    block on one line or over several."""
    r = random.Random(spec["name"] + spec.get("chain", ""))
    name = spec["name"]
    style = spec.get("style", "inline")
    base = f"{name}_base" if style == "patch" else name
    out = [f"# {name}: generated by tests/specgen/gen.py"
           + (f" (fault: {spec['fault']})" if spec.get("fault") else "")]
    layers = spec["layers"]
    mac = spec.get("macro")
    if mac and mac["start"] + mac["len"] > len(layers):
        mac = None
    if mac:
        body = layers[mac["start"]:mac["start"] + mac["len"]]
        key = next((key for l in body for key in ("out", "k") if key in l), None)
        texts, done = [], False
        for l in body:
            sub = {key: "a"} if key in l and not done else {}
            done = done or bool(sub)
            texts.append(layer_text(l, r, sub))
        arg = next((l[key] for l in body if key in l), 1) if key else 1
        arg = arg[0] if isinstance(arg, list) else arg
        out.append(f"macro {name}_m(a) {{")
        out.append("  " + " -> ".join(texts))
        out.append("}")
    c, h, w = spec["input"]
    out.append(f"model {base} {{")
    out.append(f"  input {c}x{h}x{w} classes {spec['classes']}")
    chain = spec.get("chain", "lines")
    line = ""
    i = 0
    while i < len(layers):
        l = layers[i]
        if not line:
            line = "  "
        if mac and i == mac["start"]:
            line += f"{name}_m({arg})"
            for m in layers[i:i + mac["len"]]:
                set_line(m, len(out) + 1)
            i += mac["len"] - 1
        elif l["kind"] == "residual" and r.random() < 0.4:
            line = residual_lines(l, r, line, out)
        else:
            line += layer_text(l, r)
            set_line(l, len(out) + 1)
        i += 1
        last = i == len(layers)
        cont = chain == "arrows" or (chain == "mixed" and r.random() < 0.5)
        if last:
            out.append(line)
            line = ""
        elif cont and r.random() < 0.7:
            line += " -> "
        elif cont:
            out.append(line + " ->")       # the chain goes on on the next line
            line = "   "
        elif r.random() < 0.15:
            line += "; "                   # two statements on one line
        else:
            if r.random() < 0.1:
                line += "  # a comment"
            out.append(line)
            line = ""
            if r.random() < 0.05:
                out.append("  # a comment line")
    if style == "inline":
        for p in spec["patches"]:
            out.append("  " + stmt_text(p))
            p["line"] = len(out)
        out.append("}")
    else:
        out.append("}")
        out.append(f"patch {name}_p {{")
        for p in spec["patches"]:
            out.append("  " + stmt_text(p))
            p["line"] = len(out)
        out.append("}")
        out.append(f"model {name} = {base} + {name}_p")
    return "\n".join(out) + "\n"


def expected(spec):
    """None when advcc must accept the spec, else the line of the error.
    In the patch style the base is a model of the file too, and is
    checked first, on its own."""
    try:
        if spec.get("style") == "patch":
            specgen_twin.validate(dict(spec, patches=[]))
        specgen_twin.validate(spec)
        return None
    except SpecError as e:
        return e.where.get("line")


def make_case(seed, index, flat_bn=True):
    spec = Gen(seed, index, flat_bn).case()
    render(spec)
    return spec


if __name__ == "__main__":
    case = make_case(int(sys.argv[1]), int(sys.argv[2]))
    print(render(case), end="")
    if len(sys.argv) > 3:
        print(json.dumps(case, indent=1))
    print(f"# expect: {'accepted' if expected(case) is None else 'error at line %d' % expected(case)}")
