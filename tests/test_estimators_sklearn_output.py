"""What the estimators say, next to what scikit-learn says on the same fit.

* ``verbose``: scikit-learn's lines exactly as it prints them (``Iteration n, loss = ...``,
  the validation score on a line of its own, the stopping message), fastreg's own figures
  only from ``verbose=2`` on;
* the error of a stratified validation split is scikit-learn's, word for word;
* ConvergenceWarning comes from fastreg's module and the filters of the README silence it
  (scikit-learn's gallery's ``module="sklearn"`` names scikit-learn's modules only);
* targets that overflow float32 are reported as such.
"""
import contextlib
import io
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn import neural_network  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import fastreg  # noqa: E402
import fastreg.estimators  # noqa: E402

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.7 * rng.normal(size=n) > 0).astype(int)
    return X, y


def _printed(estimator, X, y):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    return out.getvalue().splitlines()


def _shape_and_numbers(lines):
    numbers = [float(n) for line in lines for n in NUMBER.findall(line)]
    return [NUMBER.sub("#", line) for line in lines], numbers


@pytest.mark.parametrize("kind,options", [
    ("classifier", dict(solver="sgd", early_stopping=True, n_iter_no_change=3,
                        learning_rate_init=0.05)),
    ("classifier", dict(solver="adam", max_iter=8)),
    ("regressor", dict(solver="sgd", learning_rate="adaptive", n_iter_no_change=2, tol=0.05,
                       learning_rate_init=0.01)),
], ids=["early-stopping", "max-iter", "adaptive"])
def test_verbose_prints_scikit_learns_lines(kind, options):
    """The same fit (fastreg reproduces scikit-learn's model) prints the same lines: the
    same text once the numbers are masked, and the same numbers to the printed digits."""
    X, y = _data()
    if kind == "regressor":
        y = X[:, 0] * 2.0 + np.sin(X[:, 1])
    common = dict(hidden_layer_sizes=(8,), random_state=0, max_iter=40, verbose=True)
    common.update(options)
    name = "MLPClassifier" if kind == "classifier" else "MLPRegressor"
    theirs = _printed(getattr(neural_network, name)(**common), X, y)
    ours = _printed(getattr(fastreg, name)(**common), X, y)
    their_text, their_numbers = _shape_and_numbers(theirs)
    our_text, our_numbers = _shape_and_numbers(ours)
    assert our_text == their_text, "\n".join(ours + ["--- scikit-learn:"] + theirs)
    np.testing.assert_allclose(our_numbers, their_numbers, rtol=1e-6, atol=2e-8)
    assert len(their_text) > 5 and any(line.startswith("Iteration") for line in their_text)
    if options.get("early_stopping"):
        assert "Validation score: #" in their_text


def test_verbose_two_adds_fastregs_figures_on_lines_of_their_own():
    X, y = _data()
    options = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.05,
                   early_stopping=True, n_iter_no_change=3, max_iter=40, random_state=0)
    one = _printed(fastreg.MLPClassifier(verbose=1, **options), X, y)
    two = _printed(fastreg.MLPClassifier(verbose=2, **options), X, y)
    extra = [line for line in two if line.startswith("Epoch time = ")]
    assert [line for line in two if not line.startswith("Epoch time = ")] == one
    iterations = [line for line in one if line.startswith("Iteration ")]
    assert len(extra) == len(iterations) > 3
    for line in extra:
        assert re.fullmatch(r"Epoch time = \d+\.\d{4}s, validation loss = \d+\.\d{8}", line), line
    # Each extra line follows its epoch's validation score.
    assert all(two[two.index(line) - 1].startswith("Validation score: ") for line in extra)


@pytest.mark.parametrize("labels", [
    [True] * 19 + [False],
    ["spam"] * 19 + ["ham"],
    [3] * 19 + [7],
    [0] * 19 + [1],
])
def test_stratified_split_error_is_scikit_learns(labels):
    """A class seen once cannot be split: scikit-learn's error, word for word. Both split
    the binarized targets as booleans, so the class is named 'True' or 'False' whatever the
    labels (scikit-learn's own test_early_stopping_stratified expects ['True'])."""
    X = _data(len(labels))[0]
    y = np.array(labels)
    with pytest.raises(ValueError) as ours:
        fastreg.MLPClassifier(early_stopping=True, max_iter=2).fit(X, y)
    with pytest.raises(ValueError) as theirs:
        neural_network.MLPClassifier(early_stopping=True, max_iter=2).fit(X, y)
    assert "least populated classes" in str(theirs.value)
    assert str(ours.value) == str(theirs.value)


def _convergence_warnings(fit, *filters):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for module in filters:
            warnings.filterwarnings("ignore", category=ConvergenceWarning, module=module)
        fit()
    return [w for w in caught if issubclass(w.category, ConvergenceWarning)]


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_convergence_warnings_filter_as_the_readme_says(solver):
    """A ConvergenceWarning of fastreg's solvers: silenced by category alone and by
    ``module="sklearn|fastreg"``, as the README says; 'adam' and 'sgd' warn from
    fastreg.estimators, so scikit-learn's ``module="sklearn"`` does not name them."""
    X, y = _data()

    def fit():
        fastreg.MLPClassifier(hidden_layer_sizes=(5,), solver=solver, max_iter=2,
                              random_state=0).fit(X, y)

    unfiltered = _convergence_warnings(fit)
    assert len(unfiltered) == 1 and "iterations" in str(unfiltered[0].message)
    assert _convergence_warnings(fit, ".*") == []
    assert _convergence_warnings(fit, "sklearn|fastreg") == []
    if solver != "lbfgs":  # 'lbfgs' warns through scikit-learn's own check of scipy's result
        assert unfiltered[0].filename == fastreg.estimators.__file__
        assert len(_convergence_warnings(fit, "sklearn")) == 1
        assert _convergence_warnings(fit, "fastreg") == []


def test_targets_that_overflow_float32_are_named():
    """float32 X trains in float32: a finite target past its range is reported as such; in
    float64 the same target is taken (its squared error, 1e78 / 2 over 30 rows, dominates
    the first epoch's loss)."""
    X, _ = _data(30)
    y = np.linspace(-1, 1, 30)
    y[3] = 1e39
    overflow = r"contains NaN or infinity \(after conversion to float32\)"
    with pytest.raises(ValueError, match="y " + overflow):
        fastreg.MLPRegressor(max_iter=1).fit(X.astype(np.float32), y)
    with pytest.raises(ValueError, match="y_val " + overflow):
        fastreg.MLPRegressor(max_iter=1).fit(X.astype(np.float32), np.zeros(30),
                                             validation_data=(X[:5].astype(np.float32), y[:5]))
    model = fastreg.MLPRegressor(max_iter=1, hidden_layer_sizes=(2,), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert model.coefs_[0].dtype == np.float64
    assert model.loss_ == pytest.approx(1e78 / 2 / 30, rel=1e-9)
