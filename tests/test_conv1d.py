"""Conv1D (weight sharing): forward against a plain NumPy convolution, gradients against
central finite differences, both dtypes, strides, paddings and several channels."""
import numpy as np
import pytest

import fastreg
from fastreg import Conv1D, Dense


def _reference_conv(x, weights, bias, layer, in_channels):
    """Channels-last 1-D convolution, written out position by position."""
    n, features = x.shape
    length = features // in_channels
    signal = x.reshape(n, length, in_channels)
    padded = np.zeros((n, length + 2 * layer.padding, in_channels))
    padded[:, layer.padding:layer.padding + length] = signal
    out_length = layer.output_length(length)
    filters = weights.reshape(layer.kernel_size, in_channels, layer.channels)
    out = np.empty((n, out_length, layer.channels))
    for t in range(out_length):
        window = padded[:, t * layer.stride:t * layer.stride + layer.kernel_size]
        out[:, t] = np.einsum("njc,jco->no", window, filters) + bias
    return out.reshape(n, -1)


ACTIVATE = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "identity": lambda z: z}


def _network(dtype, convs, dropout=0.0, **kwargs):
    layers = [Conv1D(c, k, stride=s, padding=p, activation=a, dropout=dropout)
              for c, k, s, p, a in convs]
    return fastreg.Network(layers + [Dense(6, "tanh"), Dense(3)], dtype=dtype, random_state=0,
                           **kwargs)


GEOMETRIES = [
    [(4, 3, 1, 0, "relu")],
    [(5, 5, 2, 1, "tanh"), (3, 3, 2, 1, "relu")],
    [(2, 4, 3, 2, "identity"), (4, 2, 1, 0, "tanh")],
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("convs", GEOMETRIES)
def test_forward_matches_numpy_convolution(dtype, convs):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 20))
    net = _network(dtype, convs)
    net.initialize(20)
    a, channels = X, 1
    for layer, w, b in zip(net.layers, net.coefs_, net.intercepts_):
        if isinstance(layer, Conv1D):
            a = ACTIVATE[layer.activation](_reference_conv(a, w.astype(float), b, layer, channels))
            channels = layer.channels
        elif layer is net.layers[-1]:
            z = a @ w + b
            expected = np.exp(z - z.max(axis=1, keepdims=True))
            expected /= expected.sum(axis=1, keepdims=True)
        else:
            a = ACTIVATE[layer.activation](a @ w + b)
    tol = 1e-12 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(net.predict(X), expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("convs", GEOMETRIES)
@pytest.mark.parametrize("training", [False, True])
def test_gradients_match_finite_differences(convs, training):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 20))
    y = rng.integers(0, 3, 5)
    net = _network("float64", convs, dropout=0.3 if training else 0.0,
                   regularizers=[fastreg.L2(0.1)])
    net.initialize(20)
    # Move the ReLU pre-activations off their kink by nudging the biases.
    for b in net.intercepts_:
        b += 0.05
    loss, grad_w, grad_b = net.loss_gradient(X, y, training=training)
    step = 1e-6
    for params, grads in ((net.coefs_, grad_w), (net.intercepts_, grad_b)):
        for p, g in zip(params, grads):
            numeric = np.empty_like(p)
            for index in np.ndindex(p.shape):
                keep = p[index]
                p[index] = keep + step
                up = net.loss_gradient(X, y, training=training)[0]
                p[index] = keep - step
                down = net.loss_gradient(X, y, training=training)[0]
                p[index] = keep
                numeric[index] = (up - down) / (2 * step)
            np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-7)


def test_convolution_learns_a_translated_pattern():
    """A pattern at a random position: a small CNN separates the two classes."""
    rng = np.random.default_rng(2)
    n, length = 400, 24
    X = rng.normal(scale=0.3, size=(n, length))
    y = rng.integers(0, 2, n)
    pattern = {0: np.array([1.0, -1.0, 1.0]), 1: np.array([-1.0, 1.0, 1.0])}
    for i in range(n):
        start = rng.integers(0, length - 3)
        X[i, start:start + 3] += 2 * pattern[y[i]]
    net = fastreg.Network([Conv1D(8, 3, padding=1), Dense(16, "relu"), Dense(2)],
                          optimizer=fastreg.Adam(1e-2), random_state=0)
    net.fit(X[:300], y[:300], epochs=60, batch_size=20)
    assert np.mean(net.predict(X[300:]).argmax(axis=1) == y[300:]) > 0.9


def test_layer_order_and_geometry_are_checked():
    with pytest.raises(ValueError, match="first"):
        fastreg.Network([Dense(4, "relu"), Conv1D(2, 3), Dense(2)])
    with pytest.raises(ValueError, match="too short"):
        fastreg.Network([Conv1D(2, 9), Dense(2)]).initialize(5)
    with pytest.raises(ValueError, match="kernel_size"):
        Conv1D(2, 0)
    with pytest.raises(ValueError, match="dropout"):
        Conv1D(2, 3, dropout=1.0)
