"""What ``Network.fit(verbose=...)`` prints: the epoch lines and the progress bar of an epoch.

An epoch runs in one compiled call without the GIL, and the engine counts its steps in
``engine.step`` as it goes. With ``verbose=2`` a daemon thread wakes a few times a second,
reads that count (a plain attribute read: the training thread does not need the GIL back)
and moves a bar: tqdm's when it is installed (the extra "progress"), else a plain text bar
redrawn in place with ``\\r``. Nothing here touches the network's arrays or random streams.
"""
import math
import numbers
import sys
import threading
import time

#: Seconds between two looks of the monitor at the engine's step count.
MONITOR_INTERVAL = 0.15


def check_verbose(verbose):
    """0, 1 or 2 (False and True are 0 and 1), as an int; else ValueError naming it."""
    if isinstance(verbose, numbers.Integral) and verbose in (0, 1, 2):
        return int(verbose)
    raise ValueError(f"verbose must be 0, 1, 2 or a bool, got {verbose!r}.")


def _duration(seconds):
    return f"{seconds * 1000:.3g} ms" if seconds < 0.1 else f"{seconds:.2f} s"


def epoch_line(number, epochs, record, *, show_learning_rate=False):
    """``Epoch 3/20 - loss 0.4123 - val_loss 0.5012 - val_accuracy 0.8420 - 0.21 s``: the
    figures ``record`` has (the validation ones when they were measured)."""
    parts = [f"Epoch {number}/{epochs}", f"loss {record['loss']:.4f}"]
    for key in ("val_loss", "val_accuracy"):
        if key in record:
            parts.append(f"{key} {record[key]:.4f}")
    if show_learning_rate:
        parts.append(f"learning_rate {record['learning_rate']:.4g}")
    parts.append(_duration(record["epoch_time"]))
    return " - ".join(parts)


def print_line(line):
    print(line, file=sys.stdout, flush=True)


class TextBar:
    """A progress bar of plain text, redrawn in place: ``Epoch 2/5 [=====>    ] 40/80 ETA 0.3 s``.

    Used when tqdm is not installed.
    """

    width = 30

    def __init__(self, total, description):
        self.total = total
        self.description = description
        self.start = time.perf_counter()
        self.shown = 0
        self.show(0)

    def show(self, done):
        self.shown = done
        filled = self.width * done // self.total
        arrow = ">" if 0 < filled < self.width else ""
        bar = ("=" * max(filled - len(arrow), 0) + arrow).ljust(self.width)
        elapsed = time.perf_counter() - self.start
        if done >= self.total:
            timing = _duration(elapsed)
        elif done > 0:
            timing = f"ETA {_duration(elapsed / done * (self.total - done))}"
        else:
            timing = "ETA ?"
        sys.stdout.write(f"\r{self.description} [{bar}] {done}/{self.total} {timing}  ")
        sys.stdout.flush()

    def close(self):
        sys.stdout.write("\n")
        sys.stdout.flush()


class TqdmBar:
    """tqdm's bar (steps, rate and ETA), written to stdout like the epoch lines."""

    def __init__(self, tqdm, total, description):
        self.bar = tqdm(total=total, desc=description, unit="step", file=sys.stdout,
                        leave=True, dynamic_ncols=True, mininterval=0)
        self.total = total
        self.shown = 0

    def show(self, done):
        self.shown = done
        self.bar.update(done - self.bar.n)

    def close(self):
        self.bar.close()


def new_bar(total, description):
    """tqdm's bar when tqdm can be imported, else a :class:`TextBar`."""
    try:
        from tqdm import tqdm
    except ImportError:
        return TextBar(total, description)
    return TqdmBar(tqdm, total, description)


class EpochMonitor:
    """Context manager moving ``bar`` while an epoch trains, from a daemon thread.

    ``steps_done()`` is called from that thread every :data:`MONITOR_INTERVAL` seconds;
    on a normal exit the bar shows the epoch's last count, on any exit (an error, Ctrl-C)
    the thread is stopped and the bar closed before the exception goes on.
    """

    def __init__(self, bar, steps_done, interval=MONITOR_INTERVAL):
        self.bar = bar
        self.steps_done = steps_done
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="fastreg-progress", daemon=True)

    def _watch(self):
        while not self._stop.wait(self.interval):
            done = self.steps_done()
            if done != self.bar.shown:
                self.bar.show(done)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self._stop.set()
        self._thread.join()
        try:
            if exc_type is None:
                self.bar.show(self.steps_done())
        finally:
            self.bar.close()


def steps_per_epoch(n_samples, batch_size):
    return math.ceil(n_samples / batch_size)
