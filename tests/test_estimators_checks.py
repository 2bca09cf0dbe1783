"""scikit-learn's own estimator checks on fastreg's estimators, extras off and on."""
import pytest

pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import (  # noqa: E402
    check_sample_weight_equivalence_on_dense_data,
    parametrize_with_checks,
)

from fastreg import MLPClassifier, MLPRegressor  # noqa: E402

EXTRAS = dict(dropout=0.1, input_dropout=0.05, l1=1e-5, weight_decay=1e-4, max_norm=3.0,
              input_noise=0.01)
PLAIN = [MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)]
WITH_EXTRAS = [MLPClassifier(max_iter=100, label_smoothing=0.05, **EXTRAS),
               MLPRegressor(max_iter=100, **EXTRAS)]

RANDOM_MASKS = (
    "Dropout, input dropout and input noise draw their masks and noise row by row: a row "
    "repeated k times gets k independent draws, a row of weight k one draw, so the two fits "
    "differ by design (with these extras off the check passes)."
)


def expected_failures(estimator):
    if estimator.dropout or estimator.input_dropout or estimator.input_noise:
        return {
            "check_sample_weight_equivalence_on_dense_data": RANDOM_MASKS,
            "check_sample_weight_equivalence_on_sparse_data": RANDOM_MASKS,
        }
    return {}


@parametrize_with_checks(PLAIN + WITH_EXTRAS, expected_failed_checks=expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", [MLPClassifier(solver="lbfgs"), MLPRegressor(solver="lbfgs")],
                         ids=["classifier", "regressor"])
def test_lbfgs_weights_are_repeated_rows(estimator):
    check_sample_weight_equivalence_on_dense_data(type(estimator).__name__, estimator)
