"""Minimal safetensors reader/writer (no safetensors package here).

Format: 8-byte little-endian header length, JSON header {name: {dtype, shape, data_offsets}}, raw bytes.
"""
import json
import struct

import numpy as np
import torch

_NUMPY_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I32": np.int32, "I64": np.int64}


def _bf16_bytes_to_f32(raw):
    halves = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32)
    return (halves << 16).view(np.float32)


def read_safetensors(path):
    """Returns {name: float32/float64 torch tensor}; BF16 is widened exactly to f32."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    body = data[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = body[begin:end]
        if info["dtype"] == "BF16":
            array = _bf16_bytes_to_f32(raw)
        else:
            array = np.frombuffer(raw, dtype=_NUMPY_DTYPES[info["dtype"]])
        tensors[name] = torch.from_numpy(array.copy().reshape(info["shape"]))
    return tensors


def round_to_bf16(tensor):
    """Round-to-nearest-even f32 -> bf16, returned widened back to f32 (what a bf16 file stores)."""
    bits = tensor.detach().to(torch.float32).contiguous().numpy().view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint32) << 16
    return torch.from_numpy(rounded.astype(np.uint32).view(np.float32).copy())


def write_safetensors(path, tensors, dtype="F32", metadata=None):
    """tensors: {name: torch tensor}, written in insertion order as F32 or BF16."""
    header = {"__metadata__": metadata or {"format": "pt"}}
    chunks, offset = [], 0
    for name, tensor in tensors.items():
        values = tensor.detach().to(torch.float32).contiguous().numpy()
        if dtype == "BF16":
            raw = (round_to_bf16(tensor).numpy().view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            raw = values.astype("<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(values.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * ((8 - len(header_bytes) % 8) % 8)  # keep tensor data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for raw in chunks:
            f.write(raw)
