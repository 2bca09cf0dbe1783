"""What every study shares: its output folder, the parallel training of its models, the
progress line, and the writing of its figure, tables and numbers."""
import csv
import json
import math
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from fastreg._extras import install_hint
from fastreg._threads import available_cores
from fastreg._validation import check_integer


@dataclass
class StudyResult:
    """What a study wrote: ``files`` (name -> path), ``tables`` (name -> Markdown) and
    ``data`` (name -> the raw numbers saved as JSON)."""

    name: str
    out: Path
    files: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    seconds: float = 0.0


def _json_ready(value):
    """NumPy scalars and arrays as plain Python, non-finite floats as None (valid JSON)."""
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.ndarray):
        return _json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class _Progress:
    """``double-descent: 12/52 models, 0:45 elapsed, about 1:20 left`` on standard error:
    redrawn in place on a terminal, a line per tenth of the work otherwise."""

    def __init__(self, name, total, label, enabled):
        self.name, self.total, self.label = name, total, label
        self.enabled = enabled and total > 0
        self.start = time.perf_counter()
        self.done = 0
        self.terminal = sys.stderr.isatty()
        self.last_tenth = -1
        self.show()

    def advance(self):
        self.done += 1
        self.show()

    def show(self):
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        line = f"{self.name}: {self.done}/{self.total} {self.label}, {_clock(elapsed)} elapsed"
        if 0 < self.done < self.total:
            line += f", about {_clock(elapsed / self.done * (self.total - self.done))} left"
        if self.terminal:
            end = "\n" if self.done == self.total else ""
            sys.stderr.write(f"\r{line}   {end}")
        else:
            tenth = 10 * self.done // self.total
            if tenth == self.last_tenth:
                return
            self.last_tenth = tenth
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


class StudyContext:
    """The run of one study: where it writes, how it trains its models, what it prints.

    A study's ``run(context)`` trains its models through :meth:`map` and records what it
    found with :meth:`table`, :meth:`save_json`, :meth:`save_csv` and :meth:`figure`.
    """

    def __init__(self, name, out=None, *, quick=False, n_jobs=None, client=None, seed=0,
                 progress=True, stream=None):
        self.name = name
        self.out = Path(out if out is not None else f"study-{name}")
        self.out.mkdir(parents=True, exist_ok=True)
        self.quick = bool(quick)
        self.n_jobs = available_cores() if n_jobs is None else check_integer(n_jobs, "n_jobs")
        self.client = client
        self.seed = check_integer(seed, "seed", minimum=0)
        self.progress = progress
        self.stream = sys.stdout if stream is None else stream
        self._result = StudyResult(name, self.out)
        self._start = time.perf_counter()

    # ------------------------------------------------------------------ training
    def map(self, function, tasks, *, label="models"):
        """``[function(**task) for task in tasks]``, computed side by side.

        ``function`` must be a module-level function (Dask sends it to its workers by
        name) that trains its model with one engine thread (``n_threads=1``) and returns
        plain numbers. The results come back in the order of ``tasks``, whatever order
        they finish in.
        """
        tasks = list(tasks)
        progress = _Progress(self.name, len(tasks), label, self.progress)
        results = [None] * len(tasks)
        if self.client is not None:
            futures = [self.client.submit(function, pure=False, **task) for task in tasks]
            index = {future.key: i for i, future in enumerate(futures)}
            from distributed import as_completed as dask_completed

            for future in dask_completed(futures):
                results[index[future.key]] = future.result()
                progress.advance()
            return results
        with ThreadPoolExecutor(max_workers=max(1, self.n_jobs)) as pool:
            futures = {pool.submit(function, **task): i for i, task in enumerate(tasks)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                progress.advance()
        return results

    # ------------------------------------------------------------------ outputs
    def _record(self, name, path):
        self._result.files[name] = path
        return path

    def table(self, name, rows, columns, *, title=None, notes=()):
        """Write ``rows`` (dicts) as a Markdown table ``<name>.md`` and print it.

        ``columns`` is a list of ``(key, header, format)``; ``format`` is a format spec
        ("{:.1%}") or a callable of the row. ``notes`` are lines printed under the table.
        """
        header = "| " + " | ".join(heading for _, heading, _ in columns) + " |"
        rule = "|" + "|".join("---" for _ in columns) + "|"
        lines = [header, rule]
        for row in rows:
            cells = []
            for key, _, fmt in columns:
                value = fmt(row) if callable(fmt) else row.get(key, "")
                if not callable(fmt) and fmt and value not in ("", None):
                    value = fmt.format(value)
                cells.append(str(value))
            lines.append("| " + " | ".join(cells) + " |")
        text = "\n".join(([f"**{title}**", ""] if title else []) + lines
                         + ([""] + list(notes) if notes else [])) + "\n"
        path = self.out / f"{name}.md"
        path.write_text(text)
        self._result.tables[name] = text
        print(text, file=self.stream)
        return self._record(f"{name}.md", path)

    def save_json(self, name, data):
        """The raw numbers, as ``<name>.json``."""
        data = _json_ready(data)
        path = self.out / f"{name}.json"
        path.write_text(json.dumps(data, indent=1) + "\n")
        self._result.data[name] = data
        return self._record(f"{name}.json", path)

    def save_csv(self, name, rows):
        """A list of dicts with the same keys, as ``<name>.csv``."""
        rows = [_json_ready(row) for row in rows]
        path = self.out / f"{name}.csv"
        with open(path, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else [])
            writer.writeheader()
            writer.writerows(rows)
        return self._record(f"{name}.csv", path)

    def figure(self, name, figure):
        """Save a matplotlib figure as ``<name>.png`` (and close it)."""
        from matplotlib import pyplot

        path = self.out / f"{name}.png"
        figure.savefig(path, dpi=130, bbox_inches="tight")
        pyplot.close(figure)
        return self._record(f"{name}.png", path)

    def say(self, text):
        """A line of the study's report (printed, and kept in ``report.md``)."""
        print(text, file=self.stream)
        with open(self.out / "report.md", "a") as file:
            file.write(text + "\n")
        self._record("report.md", self.out / "report.md")

    def result(self):
        self._result.seconds = time.perf_counter() - self._start
        return self._result


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only), or ImportError with the hint."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(f"The studies draw with matplotlib: {install_hint('study')}") from error
    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


_DATA_LOCK = threading.Lock()


def mnist1d(dtype="float32"):
    """MNIST-1D's default split (4000 / 1000), made once per process and cached; read-only.

    The threads of :meth:`StudyContext.map` ask for it at the same moment: one makes it,
    the others wait and find it cached.
    """
    with _DATA_LOCK:
        return _cached_mnist1d(dtype)


@lru_cache(maxsize=4)
def _cached_mnist1d(dtype):
    from fastreg.datasets import load_mnist1d

    arrays = load_mnist1d(dtype=dtype)
    for array in arrays:
        array.setflags(write=False)
    return arrays


def noisy_labels(y, fraction, n_classes, seed):
    """A copy of ``y`` with ``round(fraction * n)`` labels, chosen at random, replaced by
    another class drawn uniformly (never the true one); the noise of Nakkiran et al."""
    rng = np.random.default_rng(seed)
    y = np.array(y, copy=True)
    chosen = rng.choice(len(y), size=int(round(fraction * len(y))), replace=False)
    shift = rng.integers(1, n_classes, size=len(chosen))
    y[chosen] = (y[chosen] + shift) % n_classes
    return y
