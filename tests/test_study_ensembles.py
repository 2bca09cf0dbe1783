"""The ensembles study: accuracy of the first k members for seeds, bagging and snapshot,
under the three combine rules, on a tiny MNIST-1D run (a few members, a few epochs)."""
import importlib.util
import io
import json

import numpy as np
import pytest

from fastreg.studies import ensembles as study
from helpers import run_study_command

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
# Not imported here: importing mnist1d at collection would hide it from the tests that
# pretend it is missing.
needs_mnist1d = pytest.mark.skipif(importlib.util.find_spec("mnist1d") is None,
                                   reason="MNIST-1D needs the mnist1d package")


def test_disagreement_is_the_mean_over_pairs():
    predictions = [np.array([0, 1, 2, 3]), np.array([0, 1, 2, 0]), np.array([1, 1, 0, 0])]
    # Pairs: (0, 1) differ on 1 of 4, (0, 2) on 3 of 4, (1, 2) on 2 of 4.
    assert study._disagreement(predictions) == pytest.approx((0.25 + 0.75 + 0.5) / 3)
    assert study._disagreement(predictions[:1]) == 0.0


@pytest.mark.slow
@needs_mnist1d
def test_quick_study(tmp_path):
    from fastreg.studies import run_study

    stream = io.StringIO()
    result = run_study("ensembles", tmp_path, quick=True, n_jobs=2, progress=False,
                       stream=stream)
    for name in ("ensembles.png", "ensembles.md", "ensembles.json", "ensembles.csv",
                 "report.md"):
        assert (tmp_path / name).stat().st_size > 0, name
        assert name in result.files
    data = json.loads((tmp_path / "ensembles.json").read_text())
    n_members = data["settings"]["n_members"]
    results = data["results"]
    assert sorted(r["strategy"] for r in results) == sorted(study.STRATEGIES)
    for r in results:
        assert len(r["members"]) == n_members
        for rule in study.RULES:
            curve = r["curves"][rule]
            assert len(curve) == n_members
            assert all(0.0 <= value <= 1.0 for value in curve)
            # One member combined by any rule predicts what that member predicts.
            assert curve[0] == pytest.approx(r["members"][0], abs=1e-12)
        assert 0.0 <= r["disagreement"] <= 1.0
    snapshot = next(r for r in results if r["strategy"] == "snapshot")
    cycle = data["settings"]["cycle"]
    assert snapshot["snapshot_epochs"] == [cycle * (i + 1) for i in range(n_members)]
    summary = data["summary"]
    assert len(summary) == len(study.STRATEGIES) * len(study.RULES)
    for row in summary:
        assert row["mean_member"] <= row["best_member"]
    # CSV: one line per (ensemble, rule, k) after the header.
    lines = (tmp_path / "ensembles.csv").read_text().strip().splitlines()
    assert len(lines) == 1 + len(results) * len(study.RULES) * n_members
    assert "| seeds | mean_proba |" in stream.getvalue()


@pytest.mark.slow
@needs_mnist1d
def test_results_do_not_depend_on_the_number_of_threads(tmp_path):
    # Fresh processes: with 3 threads the three tasks start at once, MNIST-1D not yet built.
    results = []
    for n_jobs in (1, 3):
        out = tmp_path / f"jobs{n_jobs}"
        run_study_command("ensembles", out, tmp_path, "--jobs", str(n_jobs))
        results.append(json.loads((out / "ensembles.json").read_text())["results"])
    assert results[0] == results[1]
