"""torch_models.py - PyTorch definitions of the advcc models, built to match
the generated C tensor for tensor (same names, shapes and semantics), for the
reference check (oracle.py).

The seed CNN, docs/METHODS.md 1: a Normalize layer (pixels in [0,1] in, per-channel
(x - mean) / std), three blocks Conv(5x5 or 3x3, stride 1, "same" padding,
with bias) - BatchNorm2d - ReLU - AvgPool2d(2), flatten, Linear -> ReLU ->
Linear -> ReLU -> Linear (logits).  Parameter names follow the C side:
conv1.weight, conv1.bias, bn1.weight, bn1.bias, bn1.running_mean,
bn1.running_var, ..., fc1.weight, ..., fc3.bias.

The defences of specs/patches.net change it in place:
  quant  (docs/METHODS.md 4) every conv and linear weight fake-quantised to 8 bits
         over its tensor's min and max (QuantConv2d, QuantLinear), and every
         ReLU a DTReLU with learnable bounds dtrelu<i>.lo, dtrelu<i>.hi
         (numbered in order, blocks first), both with the straight-through
         gradients of runtime/quant.h and runtime/dtrelu.h;
  reg    (docs/METHODS.md 5) the same network plus a regulariser (regularize()):
         orthogonal form 4, weight 1e-4, and the spectral norm, weight 1e-3,
         one power iteration a step from the vectors <layer>.sn_u, sn_v kept
         in the checkpoint, on every conv and linear layer;
  rse    (docs/METHODS.md 6) a noise layer before every conv (noise<i>, sigma 0.2
         before the first, 0.1 before the others), drawing from torch's
         generator or from a given source (the C side's draws).  One pass:
         the averaging of inference passes is not modelled.

dropout_cnn (tests/specs/dropout.net) is the seed CNN with dropout p=0.5
after each hidden linear layer's ReLU (Dropout), its masks from torch's
generator or, replayed, from the C side's normal draws.

rect_cnn (tests/specs/rect.net) is the seed CNN with rectangular kernels,
strides and paddings: 3x5 "same", 1x3 at stride (1, 2) padded (0, 1), 3x1 at
stride (2, 1) padded (1, 0).

resnet_oracle (tests/specs/residual.net) is a small ResNet (ResNet): a stem
conv-BatchNorm-ReLU, then residual blocks, each two 3x3 convs (no bias)
with BatchNorm whose output is added to the block's input, or to a
projection of it (a strided 1x1 conv and BatchNorm) where the block halves
the image and widens the channels; global average pooling and one linear
layer.  Layers are numbered in the order the spec writes them: a block's
main path, then its shortcut.

mlp_bn (specs/mlp_bn.net) is an MLP with BatchNorm1d over its hidden
features (MLPBatchNorm).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from normal_quantile import normal_quantile

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
FASHION_MEAN = (0.2860,)
FASHION_STD = (0.3530,)


class Normalize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        c = len(mean)
        self.values = (tuple(mean), tuple(std))
        # Constants of the model, not checkpoint tensors: buffers (so that
        # .double() converts them) left out of the state dict.
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, c, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, c, 1, 1),
                             persistent=False)

    def forward(self, x):
        return (x - self.mean) / self.std


# ---- The fake quantiser (runtime/quant.h) --------------------------------

def round_half_away(v):
    """round() with ties away from zero, C's roundf: torch.round takes ties
    to even.  v - trunc(v) is exact, so the comparison sees the true
    fraction (the same test as quant_round in runtime/quant.h)."""
    t = torch.trunc(v)
    f = v - t
    return t + (f >= 0.5).to(v.dtype) - (f <= -0.5).to(v.dtype)


def grid_scaled(x, lo, s, top):
    """(x - lo) / s clipped to [0, top]: the grid coordinate whose rounding
    is the grid index.  Clipping the index is the same as clipping x to
    [lo, hi] first (runtime/quant.h, quant_value)."""
    return torch.clamp((x - lo) / s, 0.0, top)


def grid_index(x, lo, s, top):
    return round_half_away(grid_scaled(x, lo, s, top))


class FakeQuantMinMax(torch.autograd.Function):
    """Algorithm 2 over the tensor's own bounds a = min w, b = max w:
    q = s * round((clip(w, a, b) - a) / s) + a, s = (b - a) / (2^N - 1).
    index_hook, when given, is called as index_hook(w, lo, s, top) and
    returns the grid index to use instead of round(...) (the oracle's
    handling of rounding ties).  Backward: the saturating straight-through
    estimator, dL/dw = dL/dq where a <= w <= b (all of w for min/max
    bounds)."""

    @staticmethod
    def forward(ctx, w, bits, index_hook):
        lo, hi = w.min(), w.max()
        ctx.save_for_backward(w, lo, hi)
        top = float(2 ** bits - 1)
        s = (hi - lo) / top
        if not bool(s > 0):                 # one-point grid: w as it is
            return w.clone()
        j = grid_index(w, lo, s, top) if index_hook is None else index_hook(w, lo, s, top)
        return s * j + lo

    @staticmethod
    def backward(ctx, g):
        w, lo, hi = ctx.saved_tensors
        if not bool(hi > lo):
            return g, None, None
        return g * ((w >= lo) & (w <= hi)).to(g.dtype), None, None


class QuantLayer:
    """Mixin of a conv or linear layer whose weight is fake-quantised to
    `bits` in the forward; `index_hook` (see FakeQuantMinMax) may choose
    the grid index (set by the oracle, None otherwise)."""
    bits = 8
    index_hook = None

    def quantized_weight(self):
        return FakeQuantMinMax.apply(self.weight, self.bits, self.index_hook)


class QuantConv2d(QuantLayer, nn.Conv2d):
    def forward(self, x):
        return F.conv2d(x, self.quantized_weight(), self.bias, self.stride, self.padding)


class QuantLinear(QuantLayer, nn.Linear):
    def forward(self, x):
        return F.linear(x, self.quantized_weight(), self.bias)


class DTReLUFunction(torch.autograd.Function):
    """y = q_N(clip(x, lo, hi)) on the grid of [lo, hi], computed as
    runtime/quant.h's quant_value: s = (hi - lo) / (2^N - 1), index
    round(clip((x - lo) / s, 0, 2^N - 1)), y = s * index + lo.  Where
    hi <= lo the output is hi everywhere.  Backward (runtime/dtrelu.h):
    dy/dx = 1 where lo <= x <= hi else 0 (or the mask `inside` when given:
    the kink probe of pgd_check.py flips it at chosen units),
    dL/dlo = sum of dy where x < lo, dL/dhi = sum of dy where x > hi; when
    hi <= lo, dx = 0, dL/dlo = 0 and dL/dhi = sum of dy."""

    @staticmethod
    def forward(ctx, x, lo, hi, bits, inside):
        ctx.save_for_backward(x, lo, hi, inside if inside is not None else torch.empty(0))
        ctx.has_inside = inside is not None
        if not bool(hi > lo):
            return hi.expand_as(x).clone()
        top = float(2 ** bits - 1)
        s = (hi - lo) / top
        return s * grid_index(x, lo, s, top) + lo

    @staticmethod
    def backward(ctx, g):
        x, lo, hi, inside = ctx.saved_tensors
        if not bool(hi > lo):
            return torch.zeros_like(g), torch.zeros_like(lo), g.sum().reshape(hi.shape), \
                None, None
        if not ctx.has_inside:
            inside = (x >= lo) & (x <= hi)
        dx = g * inside.to(g.dtype)
        dlo = (g * (x < lo).to(g.dtype)).sum().reshape(lo.shape)
        dhi = (g * (x > hi).to(g.dtype)).sum().reshape(hi.shape)
        return dx, dlo, dhi, None, None


class DTReLU(nn.Module):
    """DTReLU with learnable scalar bounds lo, hi (shape [1], as the C
    tensors dtrelu<i>.lo, dtrelu<i>.hi).

    A hook for the oracle: `probe` (an object with see(dist, inside) ->
    inside, or None) watches the inputs' distance to the bounds and may
    change the derivative mask."""

    def __init__(self, bits=8, lo=0.0, hi=6.0):
        super().__init__()
        self.bits = bits
        self.lo = nn.Parameter(torch.tensor([float(lo)]))
        self.hi = nn.Parameter(torch.tensor([float(hi)]))
        self.probe = None

    def forward(self, z):
        inside = None
        lo, hi = self.lo, self.hi
        if self.probe is not None:
            dist = torch.minimum((z - lo).abs(), (z - hi).abs()).detach()
            inside = self.probe.see(dist, ((z >= lo) & (z <= hi)).detach())
        return DTReLUFunction.apply(z, lo, hi, self.bits, inside)


class Noise(nn.Module):
    """x + sigma * xi, xi ~ N(0, 1).  `source`, when set, is a callable
    (shape) -> tensor of that shape giving xi (the oracle replays the C
    side's draws with it); otherwise xi comes from torch.randn."""

    def __init__(self, sigma):
        super().__init__()
        self.sigma = sigma
        self.source = None

    def forward(self, x):
        xi = self.source(tuple(x.shape)) if self.source else torch.randn_like(x)
        return x + self.sigma * xi.to(x.dtype)


# ---- The regularisers (runtime/orthogonal.h, runtime/spectral.h) ----------

def orthogonal_form4(w):
    """||W^T W / ||W^T W|| - I||_F of w flattened to [out][rest], by its
    definition (the C code forms the smaller Gram; this one does not)."""
    m = w.reshape(w.shape[0], -1)
    a = m.t() @ m
    na = torch.linalg.matrix_norm(a)
    eye = torch.eye(a.shape[0], dtype=a.dtype)
    return torch.linalg.matrix_norm(a / na - eye)


def _unit(t):
    n = torch.linalg.vector_norm(t)
    return t / n if bool(n > 0) else t


def _start(v):
    """The power iteration's start: the saved v, or ones / sqrt(n) when it
    is all zeros (fresh state, runtime/spectral.h)."""
    if bool((v != 0).any()):
        return v
    return torch.full_like(v, 1.0 / float(v.numel()) ** 0.5)


def spectral_linear(w, v, iters=1):
    """One (or iters) power iteration from v: u = W v / ||.||,
    v = W^T u / ||.||.  Returns (sigma for the gradient, sigma's value, u,
    v): the first is u^T W v with u, v held constant, whose gradient wrt W
    is u v^T, as the C code takes it."""
    with torch.no_grad():
        v = _start(v)
        for _ in range(iters):
            u = _unit(w @ v)
            wtu = w.t() @ u
            sigma = torch.linalg.vector_norm(wtu)
            v = _unit(wtu)
    return u @ (w @ v), sigma, u, v


def spectral_conv(w, v, pad, iters=1):
    """The same for the convolution's own operator on inputs of v's shape
    [ci][h][w] (stride 1, padding pad): u = conv(v, W) / ||.||,
    v = conv^T(u, W) / ||.||, sigma = <u, conv(v, W)>."""
    with torch.no_grad():
        v = _start(v)
        for _ in range(iters):
            u = _unit(F.conv2d(v[None], w, padding=pad)[0])
            wtu = F.conv_transpose2d(u[None], w, padding=pad)[0]
            sigma = torch.linalg.vector_norm(wtu)
            v = _unit(wtu)
    return (u * F.conv2d(v[None], w, padding=pad)[0]).sum(), sigma, u, v


class Dropout(nn.Module):
    """Inverted dropout: in training, each element zeroed with probability
    p, the others times 1 / (1 - p); the identity in evaluation.  `source`,
    when set, gives standard normals, an element kept where its draw is at
    least the p-quantile of N(0, 1) (the runtime's masks, runtime/dropout.h);
    otherwise torch's F.dropout draws."""

    def __init__(self, p):
        super().__init__()
        self.p = p
        self.source = None

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if self.source is None:
            return F.dropout(x, self.p, True)
        keep = self.source(tuple(x.shape)) >= normal_quantile(self.p)
        return x * torch.where(keep, 1 / (1 - self.p), 0.0).to(x.dtype)


# ---- The seed CNN and its defences -----------------------------------------

def _pair(v):
    """An int or a pair (height, width) as a pair."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class SeedCNN(nn.Module):
    """weight_bits: fake-quantise every conv and linear weight; dtrelu:
    (bits, lo, hi) of the DTReLU replacing each ReLU; reg: the regulariser
    (orthogonal form, its weight, spectral weight, power iterations), which
    adds the buffers <layer>.sn_u, <layer>.sn_v; noise: (sigma before the
    first conv, sigma before the others) of the noise layers; leaky: the
    slope of the leaky ReLU replacing each ReLU; acts: the module classes
    replacing the ReLUs (after each conv block's BatchNorm, after each
    hidden linear layer); gap: global average pooling in place of the
    flatten; dropout: p of a dropout after each hidden linear layer's
    activation.  convs: (out channels, kernel) per block, or (out
    channels, kernel, stride, padding); a kernel, stride or padding is an
    int or a pair (height, width), the padding k // 2 per axis unless
    given."""

    def __init__(self, in_c, in_hw, mean, std, convs=((32, 5), (64, 5), (128, 3)),
                 fcs=(256, 128), classes=10, weight_bits=None, dtrelu=None, reg=None,
                 noise=None, leaky=None, acts=None, gap=False, dropout=None):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.blocks = []
        self.reg = reg
        self.spectral_shape = {}    # layer -> (u shape, v shape)
        conv = QuantConv2d if weight_bits else nn.Conv2d
        linear = QuantLinear if weight_bits else nn.Linear
        c, h, w = in_c, in_hw, in_hw
        for i, (co, k, *place) in enumerate(convs, 1):
            (kh, kw), stride = _pair(k), place[0] if place else 1
            padding = place[1] if len(place) > 1 else (kh // 2, kw // 2)
            layer = conv(c, co, k, stride=stride, padding=padding, bias=True)
            if noise:
                setattr(self, f"noise{i}", Noise(noise[0] if i == 1 else noise[1]))
            setattr(self, f"conv{i}", layer)
            setattr(self, f"bn{i}", nn.BatchNorm2d(co, eps=1e-5, momentum=0.1))
            self.blocks.append((f"conv{i}", f"bn{i}"))
            (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
            ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
            self.spectral_shape[f"conv{i}"] = ((co, ho, wo), (c, h, w))
            c, h, w = co, ho // 2, wo // 2
        self.fcs = []
        features = c if gap else c * h * w
        self.gap = nn.AdaptiveAvgPool2d(1) if gap else None
        for i, out in enumerate(tuple(fcs) + (classes,), 1):
            setattr(self, f"fc{i}", linear(features, out))
            self.fcs.append(f"fc{i}")
            self.spectral_shape[f"fc{i}"] = ((out,), (features,))
            features = out
        for name in self.blocks_and_fcs():
            if weight_bits:
                getattr(self, name).bits = weight_bits
            if reg:
                u, v = self.spectral_shape[name]
                getattr(self, name).register_buffer("sn_u", torch.ones(u))
                getattr(self, name).register_buffer("sn_v", torch.ones(v))
        n_acts = len(convs) + len(fcs)
        if dtrelu:
            bits, lo, hi = dtrelu
            for i in range(1, n_acts + 1):
                setattr(self, f"dtrelu{i}", DTReLU(bits, lo, hi))
            self.act_names = [f"dtrelu{i}" for i in range(1, n_acts + 1)]
        elif acts:
            self.conv_act, self.fc_act = acts[0](), acts[1]()
            self.act_names = ["conv_act"] * len(convs) + ["fc_act"] * len(fcs)
        else:
            # One module for every ReLU (by name: the oracle's probe may
            # replace it).
            self.relu = nn.ReLU() if leaky is None else nn.LeakyReLU(leaky)
            self.act_names = ["relu"] * n_acts
        self.pool = nn.AvgPool2d(2)
        self.drops = [Dropout(dropout) for _ in fcs] if dropout is not None else []
        for i, m in enumerate(self.drops, 1):
            setattr(self, f"dropout{i}", m)

    def blocks_and_fcs(self):
        return [conv for conv, _ in self.blocks] + self.fcs

    def forward(self, x):
        x = self.normalize(x)
        act = (getattr(self, n) for n in self.act_names)
        for i, (conv, bn) in enumerate(self.blocks, 1):
            if hasattr(self, f"noise{i}"):
                x = getattr(self, f"noise{i}")(x)
            x = self.pool(next(act)(getattr(self, bn)(getattr(self, conv)(x))))
        if self.gap is not None:
            x = self.gap(x)
        x = torch.flatten(x, 1)
        for i, fc in enumerate(self.fcs):
            x = getattr(self, fc)(x)
            if i + 1 < len(self.fcs):
                x = next(act)(x)
                if self.drops:
                    x = self.drops[i](x)
        return x

    def cancelled_biases(self):
        """{bias name: weight name} of conv biases a training-mode BatchNorm
        cancels: their true gradient is zero."""
        return {f"{conv}.bias": f"{conv}.weight" for conv, _ in self.blocks}

    def regularize(self):
        """The regulariser on the float master weights: (total for
        backward, {term: value}, {buffer name: its next value}).  The
        total's gradient is each term's weight times its gradient, the
        spectral ones with u, v held constant; the power iteration's new
        u, v are returned, not stored (commit_spectral stores them)."""
        form, w_orth, w_spec, iters = self.reg
        if form != 4:
            raise ValueError(f"orthogonal form {form}: only form 4 is modelled")
        total = 0
        terms, state = {}, {}
        layers = self.blocks_and_fcs()
        for n in layers:
            p = orthogonal_form4(getattr(self, n).weight)
            terms[f"ortho_{n}"] = w_orth * p.item()
            total = total + w_orth * p
        for n in layers:
            layer = getattr(self, n)
            if isinstance(layer, nn.Conv2d):
                s_grad, sigma, u, v = spectral_conv(layer.weight, layer.sn_v, layer.padding, iters)
            else:
                s_grad, sigma, u, v = spectral_linear(layer.weight, layer.sn_v, iters)
            terms[f"spectral_{n}"] = w_spec * sigma.item()
            total = total + w_spec * s_grad
            state[f"{n}.sn_u"], state[f"{n}.sn_v"] = u, v
        return total, terms, state

    def commit_spectral(self, state):
        buffers = dict(self.named_buffers())
        with torch.no_grad():
            for name, t in state.items():
                buffers[name].copy_(t)


class MLPBatchNorm(nn.Module):
    """specs/mlp_bn.net: flatten, Linear (fc1) - BatchNorm1d (bn1) - ReLU,
    Linear (fc2); no normalisation of the input."""

    def __init__(self, in_features=28 * 28, hidden=64, classes=10):
        super().__init__()
        self.reg = None
        self.fc1 = nn.Linear(in_features, hidden)
        self.bn1 = nn.BatchNorm1d(hidden, eps=1e-5, momentum=0.1)
        self.fc2 = nn.Linear(hidden, classes)
        self.relu = nn.ReLU()   # a module: the oracle's probe replaces it

    def blocks_and_fcs(self):
        return ["fc1", "fc2"]

    def forward(self, x):
        return self.fc2(self.relu(self.bn1(self.fc1(torch.flatten(x, 1)))))

    def cancelled_biases(self):
        """fc1's bias, which the training-mode BatchNorm after it cancels."""
        return {"fc1.bias": "fc1.weight"}


class ResNet(nn.Module):
    """stem: the stem conv's channels (3x3, "same", with a bias);
    blocks: (channels, stride, relu after the sum) of each residual block,
    a projection shortcut where the stride or the channels change."""

    def __init__(self, in_c, mean, std, stem, blocks, classes=10):
        super().__init__()
        self.reg = None
        self.normalize = Normalize(mean, std)
        self.relu = nn.ReLU()   # one module for every ReLU: the oracle's probe replaces it
        self.convs = []
        self.conv_bn(in_c, stem, 3, 1, bias=True)
        self.blocks = []
        c = stem
        for co, stride, act in blocks:
            main = [self.conv_bn(c, co, 3, stride), self.conv_bn(co, co, 3, 1)]
            short = self.conv_bn(c, co, 1, stride) if stride != 1 or co != c else None
            self.blocks.append((main, short, act))
            c = co
        self.fc1 = nn.Linear(c, classes)

    def conv_bn(self, ci, co, k, stride, bias=False):
        """The next convN, bnN pair; its names."""
        i = len(self.convs) + 1
        setattr(self, f"conv{i}", nn.Conv2d(ci, co, k, stride=stride, padding=k // 2, bias=bias))
        setattr(self, f"bn{i}", nn.BatchNorm2d(co, eps=1e-5, momentum=0.1))
        self.convs.append(f"conv{i}")
        return f"conv{i}", f"bn{i}"

    def through(self, pair, x):
        conv, bn = pair
        return getattr(self, bn)(getattr(self, conv)(x))

    def blocks_and_fcs(self):
        return self.convs + ["fc1"]

    def forward(self, x):
        x = self.relu(self.through(("conv1", "bn1"), self.normalize(x)))
        for (a, b), short, act in self.blocks:
            y = self.through(b, self.relu(self.through(a, x)))
            y = y + (self.through(short, x) if short else x)
            x = self.relu(y) if act else y
        return self.fc1(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def cancelled_biases(self):
        """The stem conv's bias, which the training-mode BatchNorm after it
        cancels."""
        return {"conv1.bias": "conv1.weight"}


def cifar_seed_cnn():
    return SeedCNN(3, 32, CIFAR10_MEAN, CIFAR10_STD)


def fashion_seed_cnn():
    return SeedCNN(1, 28, FASHION_MEAN, FASHION_STD)


# specs/patches.net
QUANT = {"weight_bits": 8, "dtrelu": (8, 0.0, 6.0)}
REG = {"reg": (4, 1e-4, 1e-3, 1)}   # form, orthogonal weight, spectral weight, iterations
RSE = {"noise": (0.2, 0.1)}


def cifar_defended(**defences):
    return lambda: SeedCNN(3, 32, CIFAR10_MEAN, CIFAR10_STD, **defences)


# Model name (as in specs/*.net) -> constructor.  adv trains differently but
# has the seed CNN's shape; so do the adversarially trained defences.
MODELS = {
    "baseline": cifar_seed_cnn,
    "adv": cifar_seed_cnn,
    "fashion": fashion_seed_cnn,
    "quant": cifar_defended(**QUANT),
    "quant_adv": cifar_defended(**QUANT),
    "reg": cifar_defended(**REG),
    "adv_reg": cifar_defended(**REG),
    "quant_reg": cifar_defended(**QUANT, **REG),
    "quant_adv_reg": cifar_defended(**QUANT, **REG),
    "rse": cifar_defended(**RSE),
    "mlp_bn": MLPBatchNorm,
    # tests/specs/leaky.net
    "leaky": cifar_defended(leaky=0.1),
    # tests/specs/smooth.net
    "smooth": cifar_defended(acts=(nn.Tanh, nn.Sigmoid)),
    # tests/specs/gap.net
    "gap_cnn": cifar_defended(gap=True),
    # tests/specs/dropout.net
    "dropout_cnn": cifar_defended(dropout=0.5),
    # tests/specs/rect.net: rectangular kernels, strides and paddings
    "rect_cnn": cifar_defended(convs=((32, (3, 5)), (64, (1, 3), (1, 2), (0, 1)),
                                      (128, (3, 1), (2, 1), (1, 0)))),
    # tests/specs/residual.net: identity, projection, and no ReLU after the last sum
    "resnet_oracle": lambda: ResNet(3, CIFAR10_MEAN, CIFAR10_STD, 8,
                                    ((8, 1, True), (16, 2, True), (16, 1, False))),
    # tests/specs/recipes.net: mlp_bn with other training recipes
    "recipe_adam": MLPBatchNorm,
    "recipe_nesterov": MLPBatchNorm,
    "recipe_adamw": MLPBatchNorm,
    "recipe_cosine": MLPBatchNorm,
}


def build(name):
    if name not in MODELS:
        raise KeyError(f"no PyTorch definition of model {name!r} in {__file__}")
    return MODELS[name]()


def set_real(model, real):
    """Gives model's constants (the normalisation's mean and std) the
    values the runtime holds: the spec's numbers rounded to its real type
    (np.float32, or np.float64 for a runtime built in double), kept in the
    model's dtype.  A float32 runtime's are what the model starts with."""
    for m in model.modules():
        if isinstance(m, Normalize):
            for name, v in zip(("mean", "std"), m.values):
                t = getattr(m, name)
                t.copy_(torch.from_numpy(np.asarray(v, dtype=real)).view(t.shape))


def checkpoint_names(model):
    """Names of every parameter and running statistic the C side stores."""
    return [n for n in model.state_dict() if not n.endswith("num_batches_tracked")]


def load_arrays(model, tensors):
    """Copy a dict name -> ndarray into the model's parameters and buffers.
    Names and shapes must match exactly, in both directions.  Arrays are
    taken as float32 values, float64 ones (a runtime built in double) as
    they are."""
    want = set(checkpoint_names(model))
    have = set(tensors)
    if want != have:
        raise ValueError(f"tensor names differ: missing {sorted(want - have)}, "
                         f"unexpected {sorted(have - want)}")
    state = dict(model.named_parameters())
    state.update(model.named_buffers())
    with torch.no_grad():
        for name in want:
            t = state[name]
            a = np.asarray(tensors[name])
            if a.dtype != np.float64:
                a = a.astype(np.float32)
            if tuple(t.shape) != a.shape:
                raise ValueError(f"{name}: shape {list(a.shape)}, PyTorch wants {list(t.shape)}")
            t.copy_(torch.from_numpy(a))   # converts to the model's dtype
