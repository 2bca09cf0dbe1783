"""What the benchmarks print about the machine: the CPU, and the BLAS and OpenMP libraries
loaded in the process, with the kernels OpenBLAS chose."""

import os
import platform


def cpu_model():
    """Return the CPU model name from /proc/cpuinfo, or what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def thread_pools():
    """Describe the BLAS and OpenMP libraries loaded so far, if threadpoolctl is installed.

    Returns
    -------
    list of str or None
        One line per library: kind, implementation, version, the kernels
        OpenBLAS chose for this processor, threads and file (relative to
        site-packages when it lies there), or None without threadpoolctl.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    descriptions = []
    for pool in threadpool_info():
        library = " ".join(filter(None, [pool["user_api"], pool["prefix"], pool.get("version")]))
        if pool.get("architecture"):
            library += f" ({pool['architecture']} kernels)"
        location = pool["filepath"].rpartition("site-packages" + os.sep)[2]
        descriptions.append(f"{library}, {pool['num_threads']} threads: {location}")
    return descriptions


def print_thread_pools():
    """Print :func:`thread_pools`, and a note when OPENBLAS_CORETYPE forces OpenBLAS's kernels."""
    pools = thread_pools()
    if pools is None:
        print("Thread pools: unknown (pip install threadpoolctl to list BLAS and OpenMP libraries)")
    else:
        print("Thread pools:")
        for pool in pools:
            print(f"  {pool}")
    forced_kernels = os.environ.get("OPENBLAS_CORETYPE")
    if forced_kernels:
        print(
            f"OPENBLAS_CORETYPE={forced_kernels}: OpenBLAS (numpy's matmul, scikit-learn, fastreg)"
            " runs that processor's kernels, whatever this one supports; PyTorch and JAX bring"
            " their own. To compare on this processor's own kernels, run this command with"
            " OPENBLAS_CORETYPE unset (and OPENBLAS_L2_SIZE, which goes with it)"
        )
