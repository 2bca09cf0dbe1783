"""fastreg.plot draws what the models recorded: the lines hold the history's values, the
markers sit at the best and stopping epochs, the ensemble curves reproduce the ensemble's own
scores, the weight histograms count every weight and state L1's share of exact zeros."""
import re
import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")  # before pyplot: no display needed
import matplotlib.pyplot as plt  # noqa: E402

import fastreg  # noqa: E402
from fastreg import plot  # noqa: E402

# The tiny fits below stop at max_iter on purpose (scikit-learn's ConvergenceWarning).
pytestmark = pytest.mark.filterwarnings("ignore:Stochastic Optimizer:UserWarning")

# ---------------------------------------------------------------------- data and helpers


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def classification_data(n_samples=120, n_features=6, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(n_classes, n_features))
    y = rng.integers(0, n_classes, size=n_samples)
    X = centers[y] + rng.normal(size=(n_samples, n_features))
    return X, y


def regression_data(n_samples=120, n_features=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = X[:, 0] - 2.0 * X[:, 1] + 0.1 * rng.normal(size=n_samples)
    return X, y


def tiny_network(seed=0, **kwargs):
    return fastreg.Network([fastreg.Dense(8, "relu"), fastreg.Dense(3)],
                           optimizer=fastreg.Adam(learning_rate=0.01), random_state=seed,
                           **kwargs)


def by_gid(ax, gid):
    """The one line of ``ax`` with this gid (the markers of the best and stopping epochs)."""
    lines = [line for line in ax.get_lines() if line.get_gid() == gid]
    assert len(lines) == 1, [line.get_gid() for line in ax.get_lines()]
    return lines[0]


def marker_x(ax, gid):
    """x of a vertical marker line (axvline: the same x at both ends)."""
    x = np.asarray(by_gid(ax, gid).get_xdata(), dtype=float)
    assert x[0] == x[-1]
    return x[0]


# ---------------------------------------------------------------------- learning curves
def test_network_history_is_drawn_as_recorded():
    X, y = classification_data()
    net = tiny_network()
    net.fit(X, y, epochs=5, batch_size=32)
    ax = plot.learning_curves(net)
    train = ax.get_lines()[0]
    np.testing.assert_array_equal(train.get_xdata(), np.arange(1, 6))
    np.testing.assert_array_equal(train.get_ydata(), net.history_["loss"])
    assert marker_x(ax, "stop_epoch") == 5
    assert by_gid(ax, "stop_epoch").get_label() == "last epoch (5)"
    assert not [line for line in ax.get_lines() if line.get_gid() == "best_epoch"]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    assert len(ax.figure.axes) == 1  # no accuracy: one panel
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["training loss",
                                                                   "last epoch (5)"]


def history_with_validation(n_epochs=8, seed=0):
    """A history_ in the form Network.fit gives it with validation data: NaN where an
    epoch had none."""
    rng = np.random.default_rng(seed)
    history = {
        "loss": list(np.linspace(2.0, 0.5, n_epochs)),
        "learning_rate": [0.01] * n_epochs,
        "epoch_time": list(rng.uniform(0.001, 0.002, n_epochs)),
        "val_loss": list(rng.uniform(0.6, 1.2, n_epochs)),
        "val_accuracy": list(rng.uniform(0.5, 0.9, n_epochs)),
    }
    history["val_loss"][0] = history["val_accuracy"][0] = float("nan")
    return history


def test_validation_loss_and_accuracy_of_a_history():
    history = history_with_validation()
    ax = plot.learning_curves(history)
    train, validation = ax.get_lines()[:2]
    np.testing.assert_array_equal(train.get_ydata(), history["loss"])
    np.testing.assert_array_equal(validation.get_ydata(), history["val_loss"])  # NaN: a gap
    assert validation.get_label() == "validation loss"
    best = int(np.nanargmin(history["val_loss"])) + 1
    assert best > 1
    assert marker_x(ax, "best_epoch") == best
    assert marker_x(ax, "stop_epoch") == len(history["loss"])
    # The accuracy: a second panel sharing the epochs, its markers at the same epochs.
    assert len(ax.figure.axes) == 2
    score_ax = ax.figure.axes[1]
    np.testing.assert_array_equal(score_ax.get_lines()[0].get_ydata(), history["val_accuracy"])
    assert score_ax.get_ylabel() == "accuracy" and score_ax.get_xlabel() == "epoch"
    assert marker_x(score_ax, "best_epoch") == best


def test_all_nan_accuracy_and_missing_keys_are_absent():
    """A regression history has NaN val_accuracy: no accuracy panel; a history without the
    validation keys (today's Network) has no validation line nor best epoch."""
    history = history_with_validation()
    history["val_accuracy"] = [float("nan")] * len(history["loss"])
    ax = plot.learning_curves(history)
    assert len(ax.figure.axes) == 1
    assert len([line for line in ax.get_lines() if line.get_gid() is None]) == 3  # + best dot
    plain = {"loss": history["loss"]}
    ax = plot.learning_curves(plain)
    assert [line.get_gid() for line in ax.get_lines()] == [None, "stop_epoch"]


def test_early_stopping_of_the_last_fit_marks_its_epochs():
    """A network trained 3 epochs, then early-stopped: the callback's epochs are the
    history's last ones, so its best and stopping epochs move by 3."""
    X, y = classification_data()
    X_val, y_val = classification_data(n_samples=60, seed=1)
    net = tiny_network()
    net.fit(X, y, epochs=3)
    stopper = fastreg.EarlyStopping(fastreg.GeneralizationLoss(0.0), (X_val, y_val))
    net.fit(X, y, epochs=40, callback=stopper)
    assert stopper.stopped_epoch_ is not None and stopper.stopped_epoch_ < 40
    ax = plot.learning_curves(net, early_stopping=stopper)
    validation = ax.get_lines()[1]
    np.testing.assert_array_equal(validation.get_ydata(), [np.nan] * 3 + stopper.val_errors_)
    assert marker_x(ax, "best_epoch") == 3 + stopper.best_epoch_
    assert marker_x(ax, "stop_epoch") == 3 + stopper.stopped_epoch_ == net.epochs_
    assert by_gid(ax, "stop_epoch").get_label() == f"stopped ({net.epochs_})"
    # The best epoch's dot sits on the validation curve at the lowest error.
    dot = ax.get_lines()[2]
    assert dot.get_xdata()[0] == 3 + stopper.best_epoch_
    assert dot.get_ydata()[0] == min(stopper.val_errors_)


def test_early_stopping_callback_on_its_own():
    X, y = classification_data()
    X_val, y_val = classification_data(n_samples=60, seed=1)
    stopper = fastreg.EarlyStopping(fastreg.Patience(2), (X_val, y_val), error="error_rate")
    tiny_network().fit(X, y, epochs=6, callback=stopper)
    ax = plot.learning_curves(stopper)
    train, validation = ax.get_lines()[:2]
    np.testing.assert_array_equal(train.get_ydata(), stopper.train_errors_)
    np.testing.assert_array_equal(validation.get_ydata(), stopper.val_errors_)
    assert validation.get_label() == "validation error rate"
    assert marker_x(ax, "best_epoch") == stopper.best_epoch_
    last = stopper.stopped_epoch_ or len(stopper.val_errors_)
    assert marker_x(ax, "stop_epoch") == last


@pytest.mark.parametrize("criterion", [None, fastreg.Patience(3)])
def test_fastreg_estimator_curves_and_the_epoch_it_keeps(criterion):
    """With early stopping the estimator keeps the weights of the highest validation score
    (scikit-learn's rule) or, with a stopping_criterion, of the lowest validation loss."""
    pytest.importorskip("sklearn")
    X, y = classification_data(n_samples=200)
    clf = fastreg.MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=40,
                                early_stopping=True, n_iter_no_change=3,
                                stopping_criterion=criterion, random_state=0).fit(X, y)
    ax = plot.learning_curves(clf)
    train, validation = ax.get_lines()[:2]
    np.testing.assert_array_equal(train.get_ydata(), clf.loss_curve_)
    np.testing.assert_array_equal(validation.get_ydata(), clf.validation_loss_curve_)
    score_ax = ax.figure.axes[1]
    np.testing.assert_array_equal(score_ax.get_lines()[0].get_ydata(), clf.validation_scores_)
    if criterion is None:
        best = int(np.argmax(clf.validation_scores_)) + 1
        assert clf.validation_scores_[best - 1] == clf.best_validation_score_
    else:
        best = int(np.argmin(clf.validation_loss_curve_)) + 1
    assert marker_x(ax, "best_epoch") == best
    assert marker_x(ax, "stop_epoch") == clf.n_iter_
    stopped = clf.n_iter_ < clf.max_iter
    assert by_gid(ax, "stop_epoch").get_label().startswith("stopped" if stopped else "last")


def test_scikit_learn_mlp_regressor():
    sklearn_mlp = pytest.importorskip("sklearn.neural_network")
    X, y = regression_data(n_samples=200)
    reg = sklearn_mlp.MLPRegressor(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=30,
                                   early_stopping=True, n_iter_no_change=3,
                                   random_state=0).fit(X, y)
    ax = plot.learning_curves(reg)
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), reg.loss_curve_)
    assert by_gid(ax, "stop_epoch").get_xdata()[0] == len(reg.loss_curve_) == reg.n_iter_
    score_ax = ax.figure.axes[1]
    np.testing.assert_array_equal(score_ax.get_lines()[0].get_ydata(), reg.validation_scores_)
    assert score_ax.get_ylabel() == "R²"
    best = int(np.argmax(reg.validation_scores_)) + 1
    assert reg.validation_scores_[best - 1] == reg.best_validation_score_
    assert marker_x(ax, "best_epoch") == best


def test_axes_given_one_or_a_pair():
    history = history_with_validation()
    figure, given = plt.subplots()
    ax = plot.learning_curves(history, ax=given)
    assert ax is given and len(figure.axes) == 2  # the accuracy on a twin Axes
    twin = figure.axes[1]
    assert twin in ax.get_shared_x_axes().get_siblings(ax)
    np.testing.assert_array_equal(twin.get_lines()[0].get_ydata(), history["val_accuracy"])
    labels = [t.get_text() for t in twin.get_legend().get_texts()]
    assert "training loss" in labels and "validation accuracy" in labels
    figure, (loss_ax, score_ax) = plt.subplots(1, 2)
    assert plot.learning_curves(history, ax=(loss_ax, score_ax)) is loss_ax
    np.testing.assert_array_equal(score_ax.get_lines()[0].get_ydata(), history["val_accuracy"])
    assert len(figure.axes) == 2


def test_learning_curves_reject_wrong_inputs():
    X, y = classification_data()
    X_val, y_val = classification_data(n_samples=30, seed=1)
    with pytest.raises(TypeError, match="source"):
        plot.learning_curves([1.0, 2.0])
    with pytest.raises(ValueError, match="not fitted"):
        plot.learning_curves(tiny_network())
    with pytest.raises(ValueError, match="empty"):
        plot.learning_curves({"loss": []})
    with pytest.raises(ValueError, match='"loss"'):
        plot.learning_curves({"val_loss": [1.0]})
    with pytest.raises(ValueError, match="val_loss"):
        plot.learning_curves({"loss": [1.0, 0.5], "val_loss": [1.0]})
    with pytest.raises(TypeError, match="loss"):
        plot.learning_curves({"loss": ["a", "b"]})
    with pytest.raises(TypeError, match="early_stopping"):
        plot.learning_curves({"loss": [1.0]}, early_stopping="patience")
    unused = fastreg.EarlyStopping(fastreg.Patience(2), (X_val, y_val))
    with pytest.raises(ValueError, match="no epoch"):
        plot.learning_curves({"loss": [1.0]}, early_stopping=unused)
    with pytest.raises(ValueError, match="no epoch"):
        plot.learning_curves(unused)
    tiny_network().fit(X, y, epochs=3, callback=unused)
    with pytest.raises(ValueError, match="not the callback"):
        plot.learning_curves({"loss": [1.0, 0.9]}, early_stopping=unused)
    with pytest.raises(TypeError, match="ax"):
        plot.learning_curves({"loss": [1.0]}, ax="left")
    with pytest.raises(ValueError, match="yscale"):
        plot.learning_curves({"loss": [1.0]}, yscale="symlog")


def test_unfitted_and_lbfgs_estimators_are_refused():
    pytest.importorskip("sklearn")
    with pytest.raises(ValueError, match="not fitted"):
        plot.learning_curves(fastreg.MLPClassifier())
    X, y = classification_data()
    lbfgs = fastreg.MLPClassifier(hidden_layer_sizes=(4,), solver="lbfgs", max_iter=5,
                                  random_state=0)
    with pytest.warns(Warning):  # lbfgs does not converge in 5 iterations
        lbfgs.fit(X, y)
    assert not hasattr(lbfgs, "loss_curve_")
    with pytest.raises(ValueError, match="lbfgs"):
        plot.learning_curves(lbfgs)
    with pytest.raises(ValueError, match="early_stopping"):
        stopper = fastreg.EarlyStopping(fastreg.Patience(2), (X, y))
        plot.learning_curves(fastreg.MLPClassifier(), early_stopping=stopper)


# ---------------------------------------------------------------------- ensembles
@pytest.fixture(scope="module")
def classifier_ensemble():
    pytest.importorskip("sklearn")
    X, y = classification_data(n_samples=150, seed=2)
    member = fastreg.MLPClassifier(hidden_layer_sizes=(4,), learning_rate_init=0.01, max_iter=8,
                                   random_state=0)
    ensemble = fastreg.EnsembleClassifier(member, n_estimators=5, strategy="seeds",
                                          random_state=0).fit(X[:100], y[:100])
    return ensemble, X[100:], y[100:]


@pytest.fixture(scope="module")
def regressor_ensemble():
    pytest.importorskip("sklearn")
    X, y = regression_data(n_samples=150, seed=3)
    member = fastreg.MLPRegressor(hidden_layer_sizes=(4,), learning_rate_init=0.01, max_iter=10)
    ensemble = fastreg.EnsembleRegressor(member, n_estimators=4, strategy="snapshot",
                                         random_state=0).fit(X[:100], y[:100])
    return ensemble, X[100:], y[100:]


@pytest.mark.parametrize("combine", ["mean_proba", "mean_logits", "vote"])
def test_classifier_size_curve_ends_at_the_ensemble_score(classifier_ensemble, combine):
    from sklearn.metrics import accuracy_score

    ensemble, X, y = classifier_ensemble
    ensemble.set_params(combine=combine)
    try:
        ax = plot.ensemble_size_curve(ensemble, X, y)
        curve = ax.get_lines()[0]
        n = len(ensemble.estimators_)
        np.testing.assert_array_equal(curve.get_xdata(), np.arange(1, n + 1))
        scores = curve.get_ydata()
        assert scores[-1] == accuracy_score(y, ensemble.predict(X)) == ensemble.score(X, y)
        # One member: its own predictions (no ties in this data).
        assert scores[0] == ensemble.estimators_[0].score(X, y)
        np.testing.assert_array_equal(scores, plot.ensemble_size_scores(ensemble, X, y))
        if combine == "mean_proba":  # k = 2 by plain NumPy: the mean of two members' proba
            proba = np.mean([m.predict_proba(X) for m in ensemble.estimators_[:2]], axis=0)
            assert scores[1] == np.mean(ensemble.classes_[proba.argmax(axis=1)] == y)
        best = max(m.score(X, y) for m in ensemble.estimators_)
        assert by_gid(ax, "best_member").get_ydata()[0] == best
        assert ax.get_xlabel() == "number of members k" and ax.get_ylabel() == "test accuracy"
    finally:
        ensemble.set_params(combine="mean_proba")


@pytest.mark.parametrize("combine", ["mean", "median"])
def test_regressor_size_curve_ends_at_the_ensemble_score(regressor_ensemble, combine):
    from sklearn.metrics import r2_score

    ensemble, X, y = regressor_ensemble
    ensemble.set_params(combine=combine)
    try:
        scores = plot.ensemble_size_curve(ensemble, X, y).get_lines()[0].get_ydata()
        assert scores[-1] == r2_score(y, ensemble.predict(X))
        predictions = np.array([m.predict(X) for m in ensemble.estimators_])
        combined = getattr(np, combine)(predictions[:3], axis=0)
        assert scores[2] == pytest.approx(r2_score(y, combined), rel=1e-12)
    finally:
        ensemble.set_params(combine="mean")


def test_members_dot_plot_holds_each_members_score(classifier_ensemble):
    ensemble, X, y = classifier_ensemble
    members = np.array([m.score(X, y) for m in ensemble.estimators_])
    ax = plot.ensemble_members(ensemble, X, y)
    dots = ax.get_lines()[0]
    np.testing.assert_array_equal(dots.get_xdata(), np.sort(members))
    order = np.argsort(members, kind="stable")
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"member {i}" for i in order]
    assert marker_x(ax, "ensemble") == ensemble.score(X, y)
    assert marker_x(ax, "best_member") == members.max()
    assert marker_x(ax, "mean_member") == pytest.approx(members.mean(), rel=1e-15)
    assert ax.get_xlabel() == "test accuracy"
    assert "seeds" in ax.get_title()


def test_members_of_a_regressor(regressor_ensemble):
    ensemble, X, y = regressor_ensemble
    ax = plot.ensemble_members(ensemble, X, y)
    members = sorted(m.score(X, y) for m in ensemble.estimators_)
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), members)
    assert ax.get_xlabel() == "test R²"


def test_ensemble_functions_reject_wrong_inputs(classifier_ensemble):
    ensemble, X, y = classifier_ensemble
    for function in (plot.ensemble_members, plot.ensemble_size_curve):
        with pytest.raises(TypeError, match="ensemble"):
            function(ensemble.estimators_[0], X, y)
        with pytest.raises(ValueError, match="not fitted"):
            function(fastreg.EnsembleClassifier(), X, y)
        with pytest.raises(ValueError, match="y must have one target per row"):
            function(ensemble, X, y[:-1])
        with pytest.raises(TypeError, match="ax"):
            function(ensemble, X, y, ax=[1])


# ---------------------------------------------------------------------- weights
def zero_counts(title):
    """(zeros, weights) from a panel title's "<zeros> of <weights> weights are 0"."""
    match = re.search(r"(\d+) of (\d+) weights are 0 \((\d+\.\d)%\)", title)
    assert match, title
    return int(match[1]), int(match[2]), float(match[3])


def test_l1_zeros_are_counted_in_every_panel(dtype):
    X, y = classification_data()
    net = fastreg.Network([fastreg.Dense(16, "relu"), fastreg.Dense(8, "relu"), fastreg.Dense(3)],
                          optimizer=fastreg.Adam(learning_rate=0.01),
                          regularizers=fastreg.L1(0.1), dtype=dtype, random_state=0)
    net.fit(X, y, epochs=10)
    figure = plot.weight_histograms(net, bins=25)
    assert len(figure.axes) == len(net.coefs_) == 3
    for panel, coef in zip(figure.axes, net.coefs_):
        assert coef.dtype == np.dtype(dtype)
        zeros, total, percent = zero_counts(panel.get_title())
        assert total == coef.size
        assert zeros / total == np.mean(coef == 0)
        assert percent == pytest.approx(100 * np.mean(coef == 0), abs=0.05)
        heights = [patch.get_height() for patch in panel.patches]
        assert sum(heights) == coef.size  # every weight in one bar
        red = [p.get_height() for p in panel.patches
               if matplotlib.colors.same_color(p.get_facecolor(), plot.BEST_COLOR)]
        assert sum(red) == zeros
        counts, _ = np.histogram(coef[coef != 0], bins=np.histogram_bin_edges(coef, 25))
        blue = [p.get_height() for p in panel.patches
                if matplotlib.colors.same_color(p.get_facecolor(), plot.TRAIN_COLOR)]
        np.testing.assert_array_equal(blue, counts)
    assert any(zero_counts(panel.get_title())[0] > 0 for panel in figure.axes)  # L1 at work


def test_estimators_weights_and_given_axes():
    sklearn_mlp = pytest.importorskip("sklearn.neural_network")
    X, y = regression_data()
    models = [
        fastreg.MLPRegressor(hidden_layer_sizes=(6, 5), l1=0.05, max_iter=5, random_state=0),
        sklearn_mlp.MLPRegressor(hidden_layer_sizes=(6,), max_iter=5, random_state=0),
    ]
    for model in models:
        model.fit(X, y)
        figure, axes = plt.subplots(1, len(model.coefs_))
        assert plot.weight_histograms(model, ax=axes, log=True) is figure
        for panel, coef in zip(axes, model.coefs_):
            assert sum(p.get_height() for p in panel.patches) == coef.size
            zeros, total, _ = zero_counts(panel.get_title())
            assert (zeros, total) == (np.count_nonzero(coef == 0), coef.size)
            assert panel.get_yscale() == "log"


def test_conv1d_classifier_weights_are_its_networks():
    pytest.importorskip("sklearn")
    X, y = classification_data(n_features=20)
    model = fastreg.Conv1DClassifier(conv_layers=((4, 3, 2, 1),), max_iter=2,
                                     random_state=0).fit(X, y)
    figure = plot.weight_histograms(model)
    coefs = model.network_.coefs_
    assert len(figure.axes) == len(coefs)
    for panel, coef in zip(figure.axes, coefs):
        assert zero_counts(panel.get_title())[1] == coef.size
        assert sum(p.get_height() for p in panel.patches) == coef.size


def test_weight_histograms_reject_wrong_inputs():
    X, y = classification_data()
    with pytest.raises(ValueError, match="not fitted"):
        plot.weight_histograms(tiny_network())
    with pytest.raises(TypeError, match="model"):
        plot.weight_histograms(np.zeros((3, 3)))
    net = tiny_network()
    net.fit(X, y, epochs=1)
    with pytest.raises(ValueError, match="bins"):
        plot.weight_histograms(net, bins=0)
    with pytest.raises(TypeError, match="log"):
        plot.weight_histograms(net, log="yes")
    _, axes = plt.subplots(1, 3)
    with pytest.raises(ValueError, match="one Axes per layer"):
        plot.weight_histograms(net, ax=axes)
    with pytest.raises(TypeError, match="ax"):
        plot.weight_histograms(net, ax=["a", "b"])
    pytest.importorskip("sklearn")
    with pytest.raises(ValueError, match="not fitted"):
        plot.weight_histograms(fastreg.MLPClassifier())


# ---------------------------------------------------------------------- the optional import
def run_python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={"PYTHONPATH": ":".join(sys.path)}).stdout


def test_fastreg_does_not_import_matplotlib():
    out = run_python("import sys, fastreg\nprint('matplotlib' in sys.modules)\n"
                     "import fastreg.plot\nprint('matplotlib' in sys.modules)\n")
    assert out.split() == ["False", "True"]


def test_missing_matplotlib_gives_the_install_hint():
    from fastreg._extras import install_hint

    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import fastreg\n"
        "for attempt in ('import fastreg.plot', 'fastreg.plot'):\n"
        "    try:\n"
        "        exec(attempt)\n"
        "    except ImportError as error:\n"
        "        print(error)\n"
    )
    lines = run_python(code).splitlines()
    assert lines == [f"fastreg.plot needs matplotlib: {install_hint('plot')}"] * 2
