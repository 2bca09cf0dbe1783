"""The lecture's experiments, reproduced: one command each, a figure, a table and the numbers.

``fastreg study NAME`` (or :func:`run_study`) runs one study and writes into its output
folder a PNG figure, a Markdown table (also printed) and the raw numbers (JSON, and CSV
where they are a table), each compared with the published figures it reproduces:

==========================  ==============================================================
``double-descent``          test error against hidden width, with and without label noise,
                            then with tuned L2 and early stopping (Nakkiran et al.)
``implicit-regularization`` batch size and learning rate against the generalization gap
``regularizers``            the lecture's table: every regularizer alone on MNIST-1D
``ensembles``               test accuracy against the number of members, by strategy
``early-stopping``          one long run and where each of Prechelt's criteria stops
``map``                     L2 and L1 as MAP estimation under Gaussian and Laplace priors
==========================  ==============================================================

Independent models train side by side on the machine's cores (threads: each network on
one engine thread, the GIL released for its epochs), or on a Dask cluster when a
``distributed.Client`` is given. Every model's seed is fixed before training starts, so the
results do not depend on how many run at once. ``quick=True`` runs a tiny version (a few
widths, a few epochs) that checks the pipeline in seconds; the figures it gives mean
nothing. The studies need the ``plot`` extra (matplotlib) and MNIST-1D (the ``demo`` extra).
"""
import importlib

from fastreg.studies._runner import StudyContext, StudyResult

#: name -> (module in fastreg.studies, one-line description)
STUDIES = {
    "double-descent": ("double_descent", "model-wise double descent on MNIST-1D"),
    "implicit-regularization": ("implicit", "batch size and learning rate as regularizers"),
    "regularizers": ("regularizers", "every regularizer alone on MNIST-1D, 5 seeds"),
    "ensembles": ("ensembles", "accuracy against the number of members, by strategy"),
    "early-stopping": ("early_stopping", "where Prechelt's criteria stop one long run"),
    "map": ("map", "L2 and L1 as MAP estimates under Gaussian and Laplace priors"),
}


def run_study(name, out=None, *, quick=False, n_jobs=None, client=None, seed=0,
              progress=True, stream=None):
    """Run the study ``name`` and write its figure, table and numbers.

    Parameters
    ----------
    name : str
        One of :data:`STUDIES`.
    out : str or path-like, optional
        The output folder (created if needed); default ``study-<name>`` in the current
        folder.
    quick : bool, default=False
        A tiny version for tests and a first look: seconds, not minutes.
    n_jobs : int or None, default=None
        Models trained at once in threads (None: the available cores).
    client : distributed.Client, optional
        Train the models on this Dask cluster instead of in threads.
    seed : int, default=0
        Seeds every model and data draw of the study.
    progress : bool, default=True
        Show a progress line on standard error.
    stream : text stream, optional
        Where the table is printed (standard output by default).

    Returns
    -------
    StudyResult
        The files written, the table as Markdown and the raw numbers.
    """
    if name not in STUDIES:
        raise ValueError(f"Unknown study {name!r}; the studies are: {', '.join(STUDIES)}.")
    module = importlib.import_module(f"fastreg.studies.{STUDIES[name][0]}")
    context = StudyContext(name, out, quick=quick, n_jobs=n_jobs, client=client, seed=seed,
                           progress=progress, stream=stream)
    module.run(context)
    return context.result()


__all__ = ["STUDIES", "StudyContext", "StudyResult", "run_study"]
