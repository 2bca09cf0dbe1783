"""End-to-end learning: the engine trains small networks to known-good accuracy.

Problems and bars:

* XOR (4 points): 100 % accuracy, for every optimizer;
* two interleaved spirals (400 points): > 95 % training accuracy;
* scikit-learn's ``load_digits`` (skipped without scikit-learn): > 95 % accuracy on a
  held-out quarter, with dropout and L2;
* regression of a smooth 2-D function: test MSE far below the target variance;
* multilabel logistic and Poisson regression recover simple ground truths.

All runs use fixed seeds, float32 and float64, and stay well under a second each.
"""
import numpy as np
import pytest

import fastreg
from helpers import make_fastreg_optimizer


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_xor(dtype, optimizer):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([0, 1, 1, 0])
    lr = {"sgd": 0.5, "momentum": 0.1, "nesterov": 0.1, "adam": 0.05, "adamw": 0.05}[optimizer]
    net = fastreg.Network([fastreg.Dense(8, "tanh"), fastreg.Dense(2)],
                          optimizer=make_fastreg_optimizer(optimizer, lr, weight_decay=0.01),
                          dtype=dtype, random_state=0)
    history = net.fit(X, y, epochs=400, batch_size=4)
    assert np.array_equal(net.predict(X).argmax(axis=1), y)
    assert history["loss"][-1] < 0.1 * history["loss"][0]
    np.testing.assert_allclose(net.predict(X).sum(axis=1), 1.0, rtol=1e-5)


def _spirals(n_per_class, rng, turns=1.5, noise=0.03):
    t = np.sqrt(rng.random(n_per_class)) * turns * 2 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (turns * 2 * np.pi)
    X = np.concatenate([arm, -arm]) + noise * rng.normal(size=(2 * n_per_class, 2))
    y = np.repeat([0, 1], n_per_class)
    return X, y


def test_two_spirals(dtype):
    rng = np.random.default_rng(1)
    X, y = _spirals(200, rng)
    net = fastreg.Network([fastreg.Dense(64, "relu"), fastreg.Dense(64, "relu"), fastreg.Dense(2)],
                          optimizer=fastreg.Adam(0.01), dtype=dtype, random_state=1)
    net.fit(X, y, epochs=300, batch_size=32)
    accuracy = np.mean(net.predict(X).argmax(axis=1) == y)
    assert accuracy > 0.95


def test_digits_held_out(dtype):
    datasets = pytest.importorskip("sklearn.datasets")
    model_selection = pytest.importorskip("sklearn.model_selection")
    X, y = datasets.load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = model_selection.train_test_split(
        X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    mean = X_train.mean(axis=0)
    net = fastreg.Network([fastreg.Dense(128, "relu", dropout=0.2), fastreg.Dense(10)],
                          optimizer=fastreg.Adam(0.003), regularizers=[fastreg.L2(1e-3)],
                          input_dropout=0.05, dtype=dtype, random_state=2)
    net.fit(X_train - mean, y_train, epochs=30, batch_size=32)
    accuracy = np.mean(net.predict(X_test - mean).argmax(axis=1) == y_test)
    assert accuracy > 0.95


def test_smooth_regression(dtype):
    rng = np.random.default_rng(3)

    def f(X):
        return np.sin(2 * X[:, 0]) * np.cos(X[:, 1]) + 0.5 * X[:, 0] * X[:, 1]

    X_train = rng.uniform(-1.5, 1.5, size=(600, 2))
    X_test = rng.uniform(-1.4, 1.4, size=(300, 2))
    net = fastreg.Network([fastreg.Dense(64, "tanh"), fastreg.Dense(64, "tanh"), fastreg.Dense(1)],
                          loss="squared_error", optimizer=fastreg.Adam(0.005), dtype=dtype,
                          random_state=3)
    net.fit(X_train, f(X_train), epochs=200, batch_size=32)
    mse = np.mean((net.predict(X_test)[:, 0] - f(X_test)) ** 2)
    assert mse < 2e-3 * np.var(f(X_test))


def test_multilabel_logistic(dtype):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(400, 5))
    Y = np.stack([X[:, 0] + X[:, 1] > 0, X[:, 2] - X[:, 3] > 0.3, X[:, 4] < -0.2], axis=1)
    net = fastreg.Network([fastreg.Dense(32, "relu"), fastreg.Dense(3)],
                          loss="logistic_cross_entropy", optimizer=fastreg.Adam(0.01),
                          dtype=dtype, random_state=4)
    net.fit(X, Y.astype(np.float64), epochs=60, batch_size=32)
    p = net.predict(X)
    assert np.all((p >= 0) & (p <= 1))
    assert np.mean((p > 0.5) == Y) > 0.97


def test_poisson_regression_recovers_rates(dtype):
    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, size=(3000, 2))
    rate = np.exp(0.5 + 0.8 * X[:, 0] - 0.6 * X[:, 1])
    counts = rng.poisson(rate)
    net = fastreg.Network([fastreg.Dense(1)], loss="poisson", optimizer=fastreg.Adam(0.02),
                          dtype=dtype, random_state=5)
    net.fit(X, counts, epochs=40, batch_size=64)
    np.testing.assert_allclose(net.coefs_[0][:, 0], [0.8, -0.6], atol=0.08)
    np.testing.assert_allclose(net.intercepts_[0][0], 0.5, atol=0.08)
    assert np.all(net.predict(X) > 0)
