#!/usr/bin/python3
"""read_checkpoint.py FILE [--torch]

Reads an advcc checkpoint (a safetensors file) with the standard library and
NumPy alone, as anyone can without the safetensors package, and prints

    model NAME
    TENSOR SHAPE FIRST LAST SUM

one line per tensor in file order; FIRST and LAST are exact (Python's repr
of the float32 value), SUM is accumulated in float64.  With --torch the
tensors are also turned into a PyTorch state dict, which is what the sums
are then taken from.
"""
import json
import struct
import sys

import numpy as np


def load(path):
    """Returns (metadata dict, {name: float32 array}) in file order."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        if t["dtype"] != "F32":
            raise ValueError(f"{path}: {name}: dtype {t['dtype']}")
        begin, end = t["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(t["shape"])
    return meta, tensors


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    meta, tensors = load(argv[1])
    sums = {name: float(a.astype(np.float64).sum()) for name, a in tensors.items()}
    if "--torch" in argv[2:]:
        import torch

        state = {name: torch.from_numpy(a.copy()) for name, a in tensors.items()}
        sums = {name: float(t.double().sum()) for name, t in state.items()}
    print("model", meta.get("model", "?"))
    for name, a in tensors.items():
        shape = "[" + ",".join(str(d) for d in a.shape) + "]"
        flat = a.reshape(-1)
        first = repr(float(flat[0])) if flat.size else "-"
        last = repr(float(flat[-1])) if flat.size else "-"
        print(name, shape, first, last, repr(sums[name]))


if __name__ == "__main__":
    main(sys.argv)
