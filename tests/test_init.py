"""fastreg's one Glorot initializer (fastreg/_init.py)."""
import numpy as np
import pytest

from fastreg._init import glorot_uniform


@pytest.mark.parametrize("factor", [6.0, 2.0])
def test_draws_lie_within_the_glorot_bound(factor):
    weights, biases = glorot_uniform(np.random.RandomState(0), (30, 20), 30, 20, factor, np.float64)
    bound = np.sqrt(factor / 50)
    assert weights.shape == (30, 20) and biases.shape == (20,)
    assert np.abs(weights).max() <= bound and np.abs(biases).max() <= bound
    # 600 uniform draws fill most of the interval.
    assert np.abs(weights).max() > 0.9 * bound


def test_weights_then_biases_from_one_stream():
    weights, biases = glorot_uniform(np.random.RandomState(3), (4, 5), 4, 5, 6.0, np.float64)
    stream = np.random.RandomState(3).uniform(-np.sqrt(6 / 9), np.sqrt(6 / 9), 25)
    np.testing.assert_array_equal(weights.ravel(), stream[:20])
    np.testing.assert_array_equal(biases, stream[20:])


def test_fans_set_the_bound_not_the_shape():
    # A convolution's weight matrix is smaller than its fans.
    weights, _ = glorot_uniform(np.random.RandomState(1), (3, 2), 3, 200, 6.0, np.float64)
    assert np.abs(weights).max() <= np.sqrt(6 / 203)


def test_float32_is_the_cast_of_the_float64_draws():
    w64, b64 = glorot_uniform(np.random.RandomState(5), (6, 7), 6, 7, 6.0, np.float64)
    w32, b32 = glorot_uniform(np.random.RandomState(5), (6, 7), 6, 7, 6.0, np.float32)
    assert w32.dtype == np.float32 and b32.dtype == np.float32
    np.testing.assert_array_equal(w32, w64.astype(np.float32))
    np.testing.assert_array_equal(b32, b64.astype(np.float32))


@pytest.mark.parametrize("activation", ["relu", "logistic"])
def test_same_draws_as_scikit_learn(activation):
    neural_network = pytest.importorskip("sklearn.neural_network")
    reference = neural_network.MLPClassifier(activation=activation)
    reference._random_state = np.random.RandomState(7)
    expected = reference._init_coef(10, 4, np.float64)
    factor = 2.0 if activation == "logistic" else 6.0
    got = glorot_uniform(np.random.RandomState(7), (10, 4), 10, 4, factor, np.float64)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
