"""bench/bench_epoch.py: a tiny run of its command line, with a baseline tree beside the
fastreg under test."""

import json
import subprocess
import sys
from pathlib import Path

import fastreg

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "bench_epoch.py"


def run_bench(*arguments):
    return subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True,
                          text=True, check=False, cwd=ROOT, timeout=120)


def test_a_baseline_tree_is_timed_in_turn_with_fastreg(tmp_path):
    # The baseline: a tree whose fastreg package is this one, reached through a link.
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "fastreg").symlink_to(Path(fastreg.__file__).parent, target_is_directory=True)
    json_path = tmp_path / "epochs.json"
    finished = run_bench("--configs", "A", "--peers", "fastreg", "--baseline", str(tree),
                         "--repeats", "1", "--rounds", "2", "--json", str(json_path))
    assert finished.returncode == 0, finished.stderr
    assert f"fastreg-baseline {fastreg.__version__} from {tree / 'fastreg'}" in finished.stdout
    header = next(line for line in finished.stdout.splitlines() if line.startswith("config"))
    assert header.split()[-2:] == ["x", "fastreg-baseline"]
    record = json.loads(json_path.read_text())
    peers = record["results"]["A"]["peers"]
    assert sorted(peers) == ["fastreg", "fastreg-baseline"]
    assert all(len(peer["epoch_seconds"]) == 2 for peer in peers.values())
    assert record["versions"]["fastreg-baseline"].endswith(str(tree / "fastreg"))


def test_a_baseline_without_fastreg_is_refused(tmp_path):
    finished = run_bench("--configs", "A", "--baseline", str(tmp_path))
    assert finished.returncode == 2
    assert f"--baseline {tmp_path}: no fastreg package there" in finished.stderr
