"""The runner every study shares: parallel map (threads or Dask), tables, numbers, progress."""
import io
import json

import numpy as np
import pytest

from fastreg.studies import STUDIES, run_study
from fastreg.studies._runner import StudyContext, noisy_labels


def _train_tiny(*, seed, hidden):
    """A module-level task, as the studies' are: a tiny network's final loss."""
    import fastreg

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(64, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = fastreg.Network([fastreg.Dense(hidden, "relu"), fastreg.Dense(2)], random_state=seed,
                          n_threads=1)
    history = net.fit(X, y, epochs=3, batch_size=16)
    return {"seed": seed, "loss": history["loss"][-1]}


TASKS = [{"seed": seed, "hidden": 4 + seed} for seed in range(6)]


def _expected():
    return [_train_tiny(**task) for task in TASKS]


@pytest.mark.parametrize("n_jobs", [1, 3])
def test_map_in_threads_returns_each_task_result_in_order(tmp_path, n_jobs):
    context = StudyContext("runner", tmp_path, n_jobs=n_jobs, progress=False)
    assert context.map(_train_tiny, TASKS) == _expected()


@pytest.mark.slow
def test_map_on_a_dask_client_equals_threads(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        context = StudyContext("runner", tmp_path, client=client, progress=False)
        assert context.map(_train_tiny, TASKS) == _expected()


def test_outputs_table_json_csv(tmp_path):
    stream = io.StringIO()
    context = StudyContext("runner", tmp_path / "out", progress=False, stream=stream)
    rows = [{"name": "a", "value": 0.5}, {"name": "b", "value": 0.25}]
    context.table("t", rows, [("name", "row", ""), ("value", "value", "{:.1%}")], title="T")
    context.save_json("numbers", {"x": np.arange(3), "bad": float("nan"), "f": np.float32(2)})
    context.save_csv("rows", rows)
    result = context.result()
    table = (tmp_path / "out" / "t.md").read_text()
    assert "| row | value |" in table and "| a | 50.0% |" in table and "| b | 25.0% |" in table
    assert table in stream.getvalue()
    data = json.loads((tmp_path / "out" / "numbers.json").read_text())
    assert data == {"x": [0, 1, 2], "bad": None, "f": 2.0}
    assert (tmp_path / "out" / "rows.csv").read_text().splitlines() == [
        "name,value", "a,0.5", "b,0.25"]
    assert set(result.files) == {"t.md", "numbers.json", "rows.csv"}


def test_progress_lines_when_not_a_terminal(tmp_path, capsys):
    context = StudyContext("runner", tmp_path, n_jobs=2, progress=True)
    context.map(_train_tiny, TASKS, label="nets")
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("runner: 0/6 nets")
    assert lines[-1].startswith("runner: 6/6 nets")
    assert len(lines) <= 11


def test_noisy_labels_changes_exactly_the_fraction_to_other_classes():
    y = np.random.default_rng(0).integers(0, 10, size=4000)
    noisy = noisy_labels(y, 0.15, 10, seed=1)
    assert np.sum(noisy != y) == 600
    np.testing.assert_array_equal(noisy_labels(y, 0.15, 10, seed=1), noisy)


def test_unknown_study_is_named():
    with pytest.raises(ValueError, match="Unknown study 'nope'; the studies are: double-descent"):
        run_study("nope")
    assert len(STUDIES) == 6
