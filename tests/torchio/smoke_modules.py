"""smoke_modules.py - every PyTorch module in a directory advcc wrote with
--torch: it imports, its state dict holds exactly the tensors of the
generated C's descriptor that a checkpoint holds (names and shapes), and a
forward and backward pass in training and evaluation mode give finite
logits and gradients for the input and every parameter.

    smoke_modules.py DIR

For the small models of tests/specs/, which no binary evaluates on a data
set: every layer kind, every quantiser range, the appendix activations."""
import glob
import importlib.util
import os
import re
import sys

import torch


def c_tensors(c_file):
    """{name: shape} of the checkpoint tensors of a generated C file."""
    text = open(c_file).read()
    table = re.search(r"static const advcc_tensor \w+\[\d+\] = \{(.*?)\n\};", text, re.S).group(1)
    out = {}
    for name, ndim, dims in re.findall(r'\{"([^"]+)", \w+, \d+, (\d+), \{([\d, ]+)\}', table):
        out[name] = [int(d) for d in dims.split(",")][:int(ndim)]
    m = re.search(r"train_only_tensors\[\] = \{(.*?)\};", text, re.S)
    for name in re.findall(r'"([^"]+)"', m.group(1)) if m else []:
        out.pop(name, None)
    return out


def main(directory):
    torch.manual_seed(0)
    failed = passed = 0
    for path in sorted(glob.glob(os.path.join(directory, "*.py"))):
        name = os.path.basename(path)[:-3]
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            net = mod.build()
            want = c_tensors(os.path.join(directory, name + ".c"))
            sd = net.state_dict()
            have = {n: list(sd[n].shape) for n in net.checkpoint_names()}
            assert have == want, f"state dict {have} != C tensors {want}"
            for mode in ("train", "eval"):
                getattr(net, mode)()
                x = torch.rand((4,) + mod.INPUT_SHAPE, requires_grad=True)
                out = net(x)
                assert out.shape == (4, mod.CLASSES), out.shape
                out.logsumexp(1).sum().backward()
                grads = [x.grad] + [p.grad for p in net.parameters() if p.grad is not None]
                assert all(bool(torch.isfinite(g).all()) for g in grads), "non-finite gradient"
                assert bool(torch.isfinite(out).all()), "non-finite logits"
                net.zero_grad()
            passed += 1
            print(f"{name}: {len(want)} tensors as in the C; forward and backward finite")
        except Exception as e:
            failed += 1
            print(f"{name}: FAILED: {type(e).__name__}: {e}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
