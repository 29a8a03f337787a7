"""torch_roundtrip.py - a model trained by PyTorch, evaluated by advcc.

    torch_roundtrip.py MODULE_DIR MODEL OUT N

Trains MODULE_DIR/MODEL.py (the module `advcc --torch` wrote) for STEPS SGD
steps (batch 50, lr 0.05, momentum 0.9) with Debian's PyTorch on the first training images, puts it in
evaluation mode and writes into OUT:

  torch.safetensors      its state dict as PyTorch has it: num_batches_tracked
                         (I64) included, names in sorted order (not advcc's),
                         fc*.weight as F64 (exact), the rest F32; written by
                         the module's own writer (no safetensors package)
  torch_f16.safetensors  the same weights in F16
  torch_logits.npy       its logits on the first N test images (float32)
  torch_f16_logits.npy   the same with the weights rounded to F16
  torch_adv.npy          PGD images: L-infinity, eps 8/255, alpha 2/255,
                         4 steps, no random start, true labels, evaluation
                         mode, pixels clipped to [0, 1] then to the eps ball
                         (runtime/pgd.h), on the summed cross-entropy
  torch.json             clean and robust accuracy
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from compare_logits import load_module, test_images  # noqa: E402


STEPS = 40


def train_images(shape, n):
    c, h, w = shape
    if c == 3:
        path = os.path.join(os.environ["CIFAR10_DIR"], "data_batch_1.bin")
        raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 1 + 3 * 32 * 32)[:n]
        labels, px = raw[:, 0], raw[:, 1:]
    else:
        import gzip
        d = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
        with gzip.open(os.path.join(d, "train-images-idx3-ubyte.gz")) as f:
            px = np.frombuffer(f.read(), dtype=np.uint8)[16:].reshape(-1, 28 * 28)[:n]
        with gzip.open(os.path.join(d, "train-labels-idx1-ubyte.gz")) as f:
            labels = np.frombuffer(f.read(), dtype=np.uint8)[8:][:n]
    scale = np.arange(256, dtype=np.float32) / np.float32(255)
    return (torch.from_numpy(scale[px].reshape(n, c, h, w)),
            torch.from_numpy(labels.astype(np.int64)))


def test_labels(shape, n):
    if shape[0] == 3:
        path = os.path.join(os.environ["CIFAR10_DIR"], "test_batch.bin")
        return torch.from_numpy(np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)[:n, 0]
                                .astype(np.int64))
    import gzip
    d = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
    with gzip.open(os.path.join(d, "t10k-labels-idx1-ubyte.gz")) as f:
        return torch.from_numpy(np.frombuffer(f.read(), dtype=np.uint8)[8:][:n].astype(np.int64))


def pgd(net, x, y, eps, alpha, steps):
    """runtime/pgd.c's L-infinity PGD without a random start, in float32."""
    eps32, alpha32 = torch.tensor(eps, dtype=torch.float32), torch.tensor(alpha, dtype=torch.float32)
    lo, hi = x - eps32, x + eps32
    cur = x.clone()
    for _ in range(steps):
        cur.requires_grad_(True)
        loss = F.cross_entropy(net(cur), y, reduction="sum")
        (g,) = torch.autograd.grad(loss, cur)
        with torch.no_grad():
            cur = cur + alpha32 * torch.sign(g)
            cur = torch.clamp(cur, 0.0, 1.0)
            cur = torch.maximum(torch.minimum(cur, hi), lo)
    return cur.detach()


def main(argv):
    directory, name, out, n = argv[0], argv[1], argv[2], int(argv[3])
    torch.manual_seed(0)
    torch.set_num_threads(1)
    mod = load_module(directory, name)
    net = mod.build()
    x, y = train_images(mod.INPUT_SHAPE, 2000)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    net.train()
    for step in range(STEPS):
        b = slice(50 * step, 50 * step + 50)
        opt.zero_grad()
        loss = F.cross_entropy(net(x[b]), y[b])
        loss.backward()
        opt.step()
    net.eval()

    state = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    assert any(k.endswith("num_batches_tracked") for k in state) or not any(
        k.startswith("bn") for k in state), "expected num_batches_tracked"
    mixed = {k: (v.astype(np.float64) if k.startswith("fc") and k.endswith(".weight") else v)
             for k, v in state.items()}
    mod.write_safetensors(os.path.join(out, "torch.safetensors"), mixed,
                          {"format": "pt", "written_by": "torch_roundtrip.py"})
    half = {k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in state.items()}
    mod.write_safetensors(os.path.join(out, "torch_f16.safetensors"), half)

    xt, yt = test_images(mod.INPUT_SHAPE, n), test_labels(mod.INPUT_SHAPE, n)
    with torch.no_grad():
        logits = net(xt)
    np.save(os.path.join(out, "torch_logits.npy"), logits.numpy())
    adv = pgd(net, xt, yt, 8 / 255, 2 / 255, 4)
    np.save(os.path.join(out, "torch_adv.npy"), adv.numpy())
    with torch.no_grad():
        adv_pred = net(adv).argmax(1)
    clean_ok = logits.argmax(1) == yt
    result = {"clean_acc": float(clean_ok.float().mean()),
              "robust_acc": float((clean_ok & (adv_pred == yt)).float().mean()),
              "loss": float(loss)}
    with torch.no_grad():
        for p in net.state_dict().values():    # not the normalisation's constants
            if p.dtype == torch.float32:
                p.copy_(p.half().float())
        np.save(os.path.join(out, "torch_f16_logits.npy"), net(xt).numpy())
    with open(os.path.join(out, "torch.json"), "w") as f:
        json.dump(result, f)
    print(f"{name}: PyTorch trained {STEPS} steps (loss {float(loss):.4f}); clean accuracy "
          f"{100 * result['clean_acc']:.2f}%, robust accuracy (PGD 4 steps, no random start) "
          f"{100 * result['robust_acc']:.2f}% on {n} test images")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
