"""The safetensors fixtures under test/fixtures/safetensors/, made with PyTorch (Debian's python3-torch
1.13, which has no `safetensors` package: the format is written and read here by hand, as the
safetensors library lays it out). Run from the repository root: /usr/bin/python3 scripts/make-safetensors-fixtures.py

- torch.safetensors, torch.json: the state_dict of an nn.Sequential built and run here (BatchNorm1d's
  running statistics from a few training-mode batches), with the spec of our equivalent network, the
  inputs x and what the model in eval mode predicts for them.
- ours.safetensors, ours.json: written by our toSafetensors() (scripts/make-safetensors-fixture.mts,
  run first), loaded here with load_state_dict(strict=True) into the nn.Sequential our file's
  metadata names, each tensor's dtype and shape checked against the module's own state_dict; the
  predictions torch makes with it are added to ours.json.

The format: an 8-byte little-endian header length, a JSON header { name: { dtype, shape,
data_offsets: [begin, end] } } padded with spaces to a multiple of 8 bytes, then the raw
little-endian data; the library orders tensors by alignment (largest first), then by name.
"""
import json
import math
import os
import struct
import subprocess

import torch
from torch import nn

FOLDER = os.path.join("test", "fixtures", "safetensors")
DTYPES = {torch.float32: ("F32", 4), torch.int64: ("I64", 8)}
TORCH_DTYPES = {"F32": torch.float32, "I64": torch.int64}


def save_file(tensors, path, metadata):
    """safetensors.torch.save_file, by hand."""
    order = sorted(tensors, key=lambda name: (-DTYPES[tensors[name].dtype][1], name))
    header, blobs, at = {"__metadata__": metadata}, [], 0
    for name in order:
        tensor = tensors[name].contiguous()
        blob = tensor.numpy().astype(tensor.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[tensor.dtype][0], "shape": list(tensor.shape), "data_offsets": [at, at + len(blob)]}
        blobs.append(blob)
        at += len(blob)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - (8 + len(raw)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def load_file(path):
    """safetensors.torch.load_file, by hand: (tensors, metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    metadata = header.pop("__metadata__", {})
    body = data[8 + size:]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = TORCH_DTYPES[entry["dtype"]]
        tensors[name] = torch.frombuffer(bytearray(body[begin:end]), dtype=dtype).reshape(entry["shape"]).clone()
    return tensors, metadata


def write_json(name, value):
    with open(os.path.join(FOLDER, name), "w") as f:
        json.dump(value, f, indent=1)
        f.write("\n")


def torch_made():
    torch.manual_seed(20261202)
    model = nn.Sequential(
        nn.Linear(5, 8), nn.LayerNorm(8, eps=1e-5), nn.GELU(), nn.Dropout(0.25),
        nn.Linear(8, 6), nn.BatchNorm1d(6, eps=1e-3, momentum=0.1), nn.LeakyReLU(0.1),
        nn.Linear(6, 6), nn.ELU(alpha=0.5), nn.Linear(6, 4), nn.SiLU(), nn.Linear(4, 3), nn.Tanh(),
    )
    with torch.no_grad():
        for module in (model[1], model[5]):
            module.weight.uniform_(0.5, 1.5)
            module.bias.uniform_(-0.5, 0.5)
        model.train()
        for _ in range(3):
            model(torch.randn(16, 5) * 2 + 0.5)
    model.eval()
    x = [round(math.sin(0.9 * i + 0.1) * 1.7, 4) for i in range(9 * 5)]
    with torch.no_grad():
        outputs = model(torch.tensor(x).reshape(9, 5))
    save_file(model.state_dict(), os.path.join(FOLDER, "torch.safetensors"), {"format": "pt"})
    spec = {
        "inputSize": 5,
        "layers": [
            {"type": "dense", "units": 8}, {"type": "layerNormalization", "epsilon": 1e-5}, {"type": "gelu"},
            {"type": "dropout", "rate": 0.25},
            {"type": "dense", "units": 6}, {"type": "batchNormalization", "momentum": 0.9, "epsilon": 1e-3},
            {"type": "leakyRelu", "slope": 0.1},
            {"type": "dense", "units": 6}, {"type": "elu", "alpha": 0.5}, {"type": "dense", "units": 4}, {"type": "silu"},
            {"type": "dense", "units": 3}, {"type": "tanh"},
        ],
        "loss": "mse",
        "optimizer": {"type": "sgd", "learningRate": 0.05},
    }
    write_json("torch.json", {"source": "scripts/make-safetensors-fixtures.py", "torch": torch.__version__, "module": repr(model),
                              "spec": spec, "x": x, "outputs": outputs.flatten().tolist()})


def ours_loaded():
    subprocess.run(["npx", "tsx", "scripts/make-safetensors-fixture.mts"], check=True)
    tensors, metadata = load_file(os.path.join(FOLDER, "ours.safetensors"))
    model = eval(metadata["module"], {"nn": nn})
    expected = model.state_dict()
    for name, tensor in expected.items():
        assert name in tensors, f"ours.safetensors lacks {name}"
        assert tensors[name].dtype == tensor.dtype and tensors[name].shape == tensor.shape, \
            f"{name}: ours {tensors[name].dtype} {list(tensors[name].shape)}, torch {tensor.dtype} {list(tensor.shape)}"
    model.load_state_dict(tensors, strict=True)
    model.eval()
    with open(os.path.join(FOLDER, "ours.json")) as f:
        ours = json.load(f)
    with torch.no_grad():
        outputs = model(torch.tensor(ours["x"]).reshape(-1, ours["spec"]["inputSize"]))
    write_json("ours.json", {**ours, "source": "scripts/make-safetensors-fixtures.py", "torch": torch.__version__, "module": repr(model),
                             "torchOutputs": outputs.flatten().tolist()})


torch_made()
ours_loaded()
