"""The documents' PyTorch loop, timed on the same data, as the peer the engine is measured against.

    python -m experiments.peer_pytorch --epochs=3      # needs torch (not a jaxact dependency):
                                                       # pip install torch==2.13.0 (CPU)

Same CNN (ReLU conv, sigmoid FC, softmax + nn.CrossEntropyLoss as document 000 wrote it), AdamW
lr 1e-3, batch 32 shuffled, 2,000 train + 3,000 valid per epoch; prints the median epoch time.
"""

import sys
import time

import numpy as np
from absl import app, flags

from jaxact import data

_EPOCHS = flags.DEFINE_integer("epochs", 3, "Timed epochs (after one warm-up).")
_THREADS = flags.DEFINE_integer("threads", None, "torch.set_num_threads (default: torch's choice).")


def main(argv):
    del argv
    try:
        import torch
        from torch import nn
    except ImportError:
        sys.exit("error: torch is not installed; `pip install torch==2.13.0` (CPU) to time the PyTorch peer")
    if _THREADS.value:
        torch.set_num_threads(_THREADS.value)
    splits = data.make_splits("misuse", seed=0)
    to_torch = lambda s: (torch.tensor(s.images).permute(0, 3, 1, 2).contiguous(), torch.tensor(s.digits, dtype=torch.long))  # noqa: E731
    (x_train, y_train), (x_valid, y_valid) = to_torch(splits["train"]), to_torch(splits["valid"])
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(),
        nn.Linear(1024, 64), nn.Sigmoid(), nn.Linear(64, 10), nn.Softmax(dim=1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    times, accuracies = [], []
    for epoch in range(_EPOCHS.value + 1):
        start = time.perf_counter()
        model.train()
        for index in torch.randperm(len(y_train)).split(32):
            optimizer.zero_grad()
            criterion(model(x_train[index]), y_train[index]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            correct = sum((model(x_valid[i:i + 32]).argmax(1) == y_valid[i:i + 32]).sum().item()
                          for i in range(0, len(y_valid), 32))
        times.append(time.perf_counter() - start)
        accuracies.append(correct / len(y_valid))
        print(f"epoch {epoch + 1}: {times[-1]:.3f} s, valid accuracy {100 * accuracies[-1]:.2f} %", flush=True)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads: median {np.median(times[1:]):.3f} s per epoch "
          f"(2,000 train + 3,000 valid), warm-up excluded")


if __name__ == "__main__":
    app.run(main)
