"""The torch-cpu runner's PyTorch side (bench/runners/torch.ts starts it with /usr/bin/python3): the
bench's step case as a PyTorch user writes it, fed the bench's data and initial weights.

One JSON object a line on stdin, one answer a line on stdout:
  {"op": "build", "threads", "sizes", "architecture", "weights": [{"weights", "bias"}], "x", "y", "rows"}
      float32 arrays as base64 of their little-endian bytes; weights [in, units] row-major as ours.
      Builds the nn.Sequential, the optimizer and the loss; answers {"threads", "torch", "inferenceLoss"}
      (the loss in eval mode from the initial weights, before any step).
  {"op": "steps", "count": n}
      n training steps on (x, y), each reading its loss back (loss.item(), as our trainBatch resolves
      to it); answers {"loss"} of the last.
Answers {"error"} when something fails.
"""
import base64
import json
import sys

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

torch.manual_seed(1)


def floats(text, shape):
    return torch.from_numpy(np.frombuffer(base64.b64decode(text), dtype="<f4").copy()).reshape(shape)


def hidden(layer, units):
    kind = layer["type"]
    if kind == "leakyRelu":
        return nn.LeakyReLU(layer["slope"])
    if kind == "layerNormalization":
        return nn.LayerNorm(units, eps=layer["epsilon"])
    if kind == "gelu":
        return nn.GELU()
    if kind == "dropout":
        return nn.Dropout(layer["rate"])
    raise ValueError(f"unknown hidden layer {kind}")


def build(message):
    torch.set_num_threads(message["threads"])
    sizes, architecture = message["sizes"], message["architecture"]
    modules = []
    for l, (inputs, units) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(inputs, units)
        with torch.no_grad():
            linear.weight.copy_(floats(message["weights"][l]["weights"], (inputs, units)).T)
            linear.bias.copy_(floats(message["weights"][l]["bias"], (units,)))
        modules.append(linear)
        if l < len(sizes) - 2:
            modules += [hidden(layer, units) for layer in architecture["hidden"]]
        elif architecture["output"] == "sigmoid":
            modules.append(nn.Sigmoid())
    model = nn.Sequential(*modules)
    rows = message["rows"]
    x = floats(message["x"], (rows, sizes[0]))
    y = floats(message["y"], (rows, sizes[-1]))
    if architecture["loss"] == "mse":
        loss_fn = F.mse_loss
    else:
        # Mean over the rows of −Σ t·log softmax(o): our softmaxCrossEntropy on one-hot targets.
        loss_fn = lambda logits, targets: -(F.log_softmax(logits, dim=1) * targets).sum(dim=1).mean()
    setting = architecture["optimizer"]
    if setting["type"] == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=setting["learningRate"])
    else:
        # torch's AdamW is Keras's: p ← p − lr·(m̂/(√v̂ + ε) + λ·p), the decay on the parameter before the step.
        optimizer = torch.optim.AdamW(model.parameters(), lr=setting["learningRate"], betas=(setting["beta1"], setting["beta2"]),
                                      eps=setting["epsilon"], weight_decay=setting["weightDecay"])
    model.eval()
    with torch.no_grad():
        inference_loss = loss_fn(model(x), y).item()
    model.train()

    def steps(count):
        loss = None
        for _ in range(count):
            optimizer.zero_grad(set_to_none=True)
            value = loss_fn(model(x), y)
            value.backward()
            optimizer.step()
            loss = value.item()
        return loss

    return steps, {"threads": torch.get_num_threads(), "torch": torch.__version__, "inferenceLoss": inference_loss}


def main():
    steps = None
    for line in sys.stdin:
        try:
            message = json.loads(line)
            if message["op"] == "build":
                steps, answer = build(message)
            else:
                answer = {"loss": steps(message["count"])}
        except Exception as error:  # the runner reports it as the cell's failure
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


main()
