"""safetensors_np.py - read a safetensors file into NumPy arrays.

The format is an 8-byte little-endian header length, a JSON header mapping
each tensor name to its dtype, shape and byte range, then the raw data.
Only what checkpoint.c writes is needed (F32, F64), so this stays small and
needs neither the safetensors package nor PyTorch.
"""
import json
import struct

import numpy as np

_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


def read_safetensors(path):
    """Return (tensors, metadata): a dict name -> ndarray and the
    __metadata__ dict (empty when absent)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: offset 0: file shorter than the 8-byte header length")
    (n,) = struct.unpack_from("<Q", blob, 0)
    if 8 + n > len(blob):
        raise ValueError(f"{path}: offset 0: header length {n} runs past the end ({len(blob)} bytes)")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = memoryview(blob)[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if end > len(data) or end - begin != count * np.dtype(dtype).itemsize:
            raise ValueError(f"{path}: offset {8 + n + begin}: tensor {name}: "
                             f"byte range [{begin}, {end}) does not hold shape {list(shape)}")
        out[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape).copy()
    return out, meta
