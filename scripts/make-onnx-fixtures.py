"""ONNX fixtures made by PyTorch's own exporter, for test/node/onnx-import.test.ts.

    /usr/bin/python3 scripts/make-onnx-fixtures.py            # writes test/fixtures/onnx/*.onnx and *.json
    /usr/bin/python3 scripts/make-onnx-fixtures.py --check a.onnx b.onnx
                                                              # onnx.checker (full) on models we exported
    /usr/bin/python3 scripts/make-onnx-fixtures.py --torch a.onnx a.json
                                                              # runs a.onnx in PyTorch, compares with a.json

Debian's python3-torch (1.13) and python3-onnx (1.12); torch.onnx.export runs offline. Each model
is a small torch.nn.Sequential with seeded weights, exported in eval mode at opset 17 with a dynamic
batch dimension, as a user would export one. Beside each <name>.onnx, <name>.json holds the input
(float32 values, row-major, and its shape) and what PyTorch computed for it (float32, row-major), so
the test can compare our predict with PyTorch's output without PyTorch. Nothing in CI runs this.
"""
import json
import os
import sys

import torch
from torch import nn

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "onnx")
OPSET = 17


class MatMulAdd(nn.Module):
    """A dense layer written as x @ W + b (W [in, out]), which the exporter writes as MatMul + Add."""

    def __init__(self, inputs, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(inputs, units) * 0.5)
        self.bias = nn.Parameter(torch.randn(units) * 0.1)

    def forward(self, x):
        return x @ self.weight + self.bias


def batchnorm_model():
    """BatchNorm1d with running statistics away from 0 and 1: a few forward passes in training mode first."""
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6, momentum=0.3, eps=1e-3), nn.Tanh(), nn.Linear(6, 3), nn.LogSoftmax(dim=1))
    model.train()
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for _ in range(5):
            model(torch.randn(16, 4, generator=g) * 2 + 1)
        # gamma and beta away from 1 and 0, so the test sees them used.
        model[1].weight.uniform_(0.5, 1.5, generator=g)
        model[1].bias.uniform_(-0.5, 0.5, generator=g)
    return model


# name: (model factory, input shape per row, what the test should expect of the import). In eval
# mode the exporter drops Dropout (and nn.Identity); the dropout model is exported in training mode,
# which keeps its Dropout node (ratio and training_mode as Constant inputs, a mask output); its
# recorded output is still the eval-mode one, what an inference (and our predict) computes.
TRAINING_EXPORT = {"dropout"}
MODELS = {
    "relu-tanh-softmax": (lambda: nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3), nn.Softmax(dim=1)),
                          [4], "softmaxCrossEntropy"),
    "activations-sigmoid": (lambda: nn.Sequential(
        nn.Linear(4, 6), nn.LeakyReLU(0.1), nn.Linear(6, 6), nn.ELU(0.7), nn.Linear(6, 6), nn.Softplus(),
        nn.Linear(6, 6), nn.GELU(), nn.Linear(6, 6), nn.SiLU(), nn.Linear(6, 6), nn.GELU(approximate="tanh"), nn.Linear(6, 2), nn.Sigmoid()),
        [4], "binaryCrossEntropy"),
    "layernorm": (lambda: nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.ReLU(), nn.Linear(6, 3)), [4], "mse"),
    "batchnorm-logsoftmax": (batchnorm_model, [4], "softmaxCrossEntropy"),
    "dropout": (lambda: nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Dropout(0.25), nn.Linear(6, 3), nn.Identity()), [4], "mse"),
    "flatten-matmul": (lambda: nn.Sequential(nn.Flatten(), MatMulAdd(6, 5), nn.Sigmoid(), nn.Linear(5, 2, bias=False)), [2, 3], "mse"),
}


def make(name, factory, row_shape, loss, seed):
    torch.manual_seed(seed)
    model = factory()
    model.eval()
    rows = 5
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(rows, *row_shape, generator=g) * 1.5
    with torch.no_grad():
        y = model(x)
    path = os.path.join(OUT, f"{name}.onnx")
    mode = torch.onnx.TrainingMode.TRAINING if name in TRAINING_EXPORT else torch.onnx.TrainingMode.EVAL
    torch.onnx.export(model, x, path, opset_version=OPSET, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, training=mode, do_constant_folding=name not in TRAINING_EXPORT)
    with open(os.path.join(OUT, f"{name}.json"), "w") as f:
        json.dump({
            "torch": torch.__version__,
            "inputShape": [rows, *row_shape],
            "input": x.flatten().tolist(),
            "output": y.flatten().tolist(),
            "loss": loss,
        }, f, indent=1)
        f.write("\n")
    print(f"{name}: {os.path.getsize(path)} bytes")


def check(paths):
    import onnx
    for path in paths:
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        print(f"{path}: onnx.checker passes (IR {model.ir_version}, opset {model.opset_import[0].version}, "
              f"{len(model.graph.node)} nodes: {' '.join(n.op_type for n in model.graph.node)})")


def gemm(inputs, attributes):
    """Y = X·B + C as toOnnx writes it (alpha = beta = 1, transA 0); B is [in, out] unless transB."""
    assert attributes.get("alpha", 1) == 1 and attributes.get("beta", 1) == 1 and not attributes.get("transA")
    weight = inputs[1] if attributes.get("transB") else inputs[1].T
    return torch.nn.functional.linear(inputs[0], weight, inputs[2] if len(inputs) > 2 else None)


# The ops toOnnx writes, as PyTorch functions of their inputs and attributes: the way a model
# exported here reaches PyTorch without onnx2torch (which Debian does not package).
TORCH_OPS = {
    "Gemm": lambda i, a: gemm(i, a),
    "Relu": lambda i, a: torch.relu(i[0]),
    "Sigmoid": lambda i, a: torch.sigmoid(i[0]),
    "Tanh": lambda i, a: torch.tanh(i[0]),
    "Softplus": lambda i, a: torch.nn.functional.softplus(i[0]),
    "LeakyRelu": lambda i, a: torch.nn.functional.leaky_relu(i[0], a.get("alpha", 0.01)),
    "Elu": lambda i, a: torch.nn.functional.elu(i[0], a.get("alpha", 1.0)),
    "Mul": lambda i, a: i[0] * i[1],
    "Add": lambda i, a: i[0] + i[1],
    "Div": lambda i, a: i[0] / i[1],
    "Erf": lambda i, a: torch.erf(i[0]),
    "Gelu": lambda i, a: torch.nn.functional.gelu(i[0], approximate=a.get("approximate", b"none").decode()),
    "LayerNormalization": lambda i, a: torch.nn.functional.layer_norm(i[0], i[0].shape[-1:], i[1], i[2], a.get("epsilon", 1e-5)),
    "BatchNormalization": lambda i, a: torch.nn.functional.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a.get("epsilon", 1e-5)),
    "Softmax": lambda i, a: torch.softmax(i[0], a.get("axis", -1)),
}


def run_in_torch(path, expected_path):
    """Evaluates our export node by node with PyTorch's functions, and compares with what we predicted."""
    import onnx
    from onnx import helper, numpy_helper
    model = onnx.load(path)
    with open(expected_path) as f:
        expected = json.load(f)
    values = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    values[model.graph.input[0].name] = torch.tensor(expected["input"], dtype=torch.float32).reshape(expected["inputShape"])
    for node in model.graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        values[node.output[0]] = TORCH_OPS[node.op_type]([values[name] for name in node.input], attributes)
    output = values[model.graph.output[0].name].flatten()
    difference = (output - torch.tensor(expected["output"])).abs().max().item()
    print(f"{path}: PyTorch {torch.__version__} computes the export within {difference:.2e} of our predict "
          f"({len(model.graph.node)} nodes: {' '.join(sorted({n.op_type for n in model.graph.node}))})")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--check"]:
        check(sys.argv[2:])
    elif sys.argv[1:2] == ["--torch"]:
        run_in_torch(sys.argv[2], sys.argv[3])
    else:
        os.makedirs(OUT, exist_ok=True)
        for i, (name, (factory, row_shape, loss)) in enumerate(MODELS.items()):
            make(name, factory, row_shape, loss, seed=100 + i)
