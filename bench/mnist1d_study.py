"""MNIST-1D: fastreg's models against the paper's table (Greydanus & Kobak).

Data: ``mnist1d``'s ``make_dataset(get_dataset_args())``, generated offline: 4000
training and 1000 test signals of 40 samples, 10 classes. Published test accuracy:
logistic regression 32%, MLP 68%, CNN 94% (the paper's notebooks print MLP 65.1% and
CNN 92.3%). Every model here uses the paper's optimizer (Adam, learning rate 1e-2,
batch 100, 150 epochs = 6000 steps) and is run for several seeds; the table gives the
mean and standard deviation of the test accuracy and the median training time.

Models:

* ``mlp``: the plain MLP 40-100-100-10 (ReLU), as in the paper;
* ``mlp-regularized``: the same MLP with random shifts (+-5 samples), random scaling
  (0.8-1.2) and label smoothing 0.1;
* ``cnn``: the paper's CNN: Conv1D(25, k5, s2, p1), Conv1D(25, k3, s2, p1),
  Conv1D(25, k3, s2, p1), then a dense layer (125 -> 10), ReLU between;
* ``cnn-augmented``: the same CNN with random shifts (+-3 samples).

Usage::

    pip install ".[demo]"    # from the root of a clone
    python bench/mnist1d_study.py [--seeds 5] [--models mlp,cnn]
"""
import argparse
import statistics
import time

import numpy as np

import fastreg
from fastreg import Conv1D, Dense
from fastreg.augment import Compose, RandomScale, RandomShift
from fastreg.datasets import load_mnist1d

EPOCHS = 150
BATCH_SIZE = 100


def paper_cnn():
    return [Conv1D(25, 5, stride=2, padding=1), Conv1D(25, 3, stride=2, padding=1),
            Conv1D(25, 3, stride=2, padding=1), Dense(10)]


def plain_mlp():
    return [Dense(100, "relu"), Dense(100, "relu"), Dense(10)]


MODELS = {
    "mlp": ("MLP 40-100-100-10", lambda: (plain_mlp(), {})),
    "mlp-regularized": (
        "MLP + shifts, scaling, label smoothing 0.1",
        lambda: (plain_mlp(), {"augment": Compose([RandomShift(5), RandomScale(0.8, 1.2)]),
                               "label_smoothing": 0.1}),
    ),
    "cnn": ("CNN (3 x Conv1D 25, dense 125-10)", lambda: (paper_cnn(), {})),
    "cnn-augmented": ("CNN + shifts", lambda: (paper_cnn(), {"augment": RandomShift(3)})),
}
PUBLISHED = {"mlp": "68% (65.1%)", "cnn": "94% (92.3%)"}


def run(model, seed, data):
    X_train, y_train, X_test, y_test = data
    layers, options = MODELS[model][1]()
    net = fastreg.Network(layers, optimizer=fastreg.Adam(learning_rate=1e-2),
                          random_state=seed, **options)
    start = time.perf_counter()
    net.fit(X_train, y_train, epochs=EPOCHS, batch_size=BATCH_SIZE)
    seconds = time.perf_counter() - start
    return float(np.mean(net.predict(X_test).argmax(axis=1) == y_test)), seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args(argv)
    data = load_mnist1d()
    print(f"MNIST-1D, Adam 1e-2, batch {BATCH_SIZE}, {EPOCHS} epochs, seeds 0..{args.seeds - 1}\n")
    print("| model | test accuracy (mean +- sd) | min - max | time per run | published |")
    print("|---|---|---|---|---|")
    for model in args.models.split(","):
        results = [run(model, seed, data) for seed in range(args.seeds)]
        accuracies = [a for a, _ in results]
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        print(
            f"| {MODELS[model][0]} "
            f"| {100 * statistics.mean(accuracies):.1f}% +- {100 * spread:.1f} "
            f"| {100 * min(accuracies):.1f} - {100 * max(accuracies):.1f}% "
            f"| {statistics.median(s for _, s in results):.1f} s | {PUBLISHED.get(model, '')} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
