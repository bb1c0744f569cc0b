"""Reading a Hugging Face checkpoint's tensors into NumPy: safetensors files with NumPy alone,
PyTorch .bin files with `torch.load(weights_only=True)` (torch is an optional extra), both as
single files or sharded with an index. Nothing is ever unpickled beyond plain tensors.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from jaxformer.config import ConfigError

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """name -> array of a .safetensors file (8-byte header size, JSON header, raw little-endian data)."""
    data = path.read_bytes()
    if len(data) < 8:
        raise ConfigError(f"{path} is truncated ({len(data)} bytes); download it again")
    (size,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + size])
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"{path} has no readable safetensors header (truncated or not safetensors); "
                          "download it again") from None
    base, out = 8 + size, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        if base + end > len(data):
            raise ConfigError(f"{path} is truncated: {name} ends at byte {base + end} of {len(data)}; download it again")
        raw = data[base + begin:base + end]
        if info["dtype"] == "BF16":  # widen to float32: the top 16 bits of a float32
            array = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] in _DTYPES:
            array = np.frombuffer(raw, np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<"))
        else:
            raise ConfigError(f"{path}: tensor {name} has dtype {info['dtype']}, which jaxformer cannot read")
        out[name] = array.reshape(info["shape"])
    return out


def read_torch_bin(path: Path) -> dict[str, np.ndarray]:
    """name -> array of a PyTorch state dict, loaded with weights_only=True (no arbitrary objects)."""
    try:
        import torch
    except ImportError:
        raise ConfigError(f"{path} is a PyTorch file and reading it needs torch: pip install 'jaxformer[marian]', "
                          "or give the folder a model.safetensors") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, a pickle of something other than tensors, ...
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise ConfigError(f"{path} cannot be read as PyTorch weights ({type(e).__name__}: {first}); "
                          "download it again") from None
    if not isinstance(state, dict):
        raise ConfigError(f"{path} holds a {type(state).__name__}, not a dict of tensors")
    return {k: v.detach().to(torch.float32 if v.is_floating_point() else v.dtype).numpy()
            for k, v in state.items() if hasattr(v, "detach")}


def read_weights(folder: Path) -> tuple[dict[str, np.ndarray], str]:
    """(tensors, file name) of a model folder: model.safetensors, else pytorch_model.bin, or their
    sharded forms (*.index.json)."""
    for name, reader in (("model.safetensors", read_safetensors), ("pytorch_model.bin", read_torch_bin)):
        index = folder / f"{name}.index.json"
        if index.is_file():
            try:
                files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (json.JSONDecodeError, KeyError):
                raise ConfigError(f"{index} is not a valid weight index; download it again") from None
            out: dict[str, np.ndarray] = {}
            for f in files:
                if not (folder / f).is_file():
                    raise ConfigError(f"{folder / f}, listed in {index.name}, is missing; download it")
                out.update(reader(folder / f))
            return out, index.name
        if (folder / name).is_file():
            return reader(folder / name), name
    raise ConfigError(f"{folder} has no model.safetensors or pytorch_model.bin; download the model's weights into it")
