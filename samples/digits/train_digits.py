#!/usr/bin/python3
"""Trains the sample digit classifier (digits.slope) on scikit-learn's 8x8 digits.

Writes, next to this script:
  digits.safetensors   F32 tensors h1.weight, h1.bias, h2.weight, h2.bias, out.weight, out.bias
  test_x.npy           float32 [N, 64], held-out images, pixels scaled to [0, 1]
  test_y.npy           int64 [N], held-out labels
  test_y.txt           the same labels, one per line
  expected_scores.npy  float32 [N, 10], the PyTorch logits on test_x

Deterministic: fixed seeds, one thread; rerunning it rewrites identical files.
Needs torch, numpy and scikit-learn (Debian: python3-torch python3-sklearn).
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240601
EPOCHS = 300
BATCH = 64


class Digits(torch.nn.Module):
    """The network of digits.slope, layer for layer."""

    def __init__(self):
        super().__init__()
        self.h1 = torch.nn.Linear(64, 32)
        self.h2 = torch.nn.Linear(32, 32)
        self.out = torch.nn.Linear(32, 10)

    def forward(self, x):
        a1 = F.leaky_relu(self.h1(x), 0.01)       # a1  = leaky_relu(h1, alpha = 0.01)
        h2 = F.leaky_relu(self.h2(a1), 0.2)       # h2  = dense(a1, 32) |> leaky_relu(0.2)
        r = h2 + a1                               # r   = add(h2, a1)
        return self.out(r)                        # out = dense(r, 10)


def write_safetensors(path, tensors):
    """Writes {name: float32 array} as a safetensors file, in the given order."""
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=SEED % (2**32))

    model = Digits()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    gen = torch.Generator().manual_seed(SEED)
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()

    model.eval()
    with torch.no_grad():
        train_acc = (model(xt).argmax(1) == yt).float().mean().item()
        scores = model(torch.from_numpy(x_test)).numpy().astype(np.float32)
    test_acc = float((scores.argmax(1) == y_test).mean())

    state = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    order = ["h1.weight", "h1.bias", "h2.weight", "h2.bias", "out.weight", "out.bias"]
    write_safetensors(os.path.join(HERE, "digits.safetensors"), {k: state[k] for k in order})
    np.save(os.path.join(HERE, "test_x.npy"), np.ascontiguousarray(x_test, dtype=np.float32))
    np.save(os.path.join(HERE, "test_y.npy"), y_test.astype(np.int64))
    with open(os.path.join(HERE, "test_y.txt"), "w") as f:
        f.write("".join(f"{int(label)}\n" for label in y_test))
    np.save(os.path.join(HERE, "expected_scores.npy"), scores)

    print(f"train accuracy: {train_acc * 100:.2f}% ({len(x_train)} samples)")
    print(f"held-out accuracy: {test_acc * 100:.2f}% "
          f"({int(round(test_acc * len(y_test)))}/{len(y_test)} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
