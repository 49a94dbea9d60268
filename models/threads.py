"""Training threads: a run of these small models is dominated by per-op dispatch, and framework thread pools
that spin on a shared or oversubscribed machine cost more than they give (torch, CNN, 6,000 images: 13.7 s wall
on one thread, 79.6 s on two, with the 2 cores loaded). `rosetta train` runs each lane single-threaded (so a
run's float reductions, and its weights, do not depend on the machine's core count) and as many lanes at once as
there are cores.

Set before a framework is imported (their pools are sized at start-up) and inherited by child processes.
"""
from __future__ import annotations

import os

_XLA_FLAGS = "--xla_cpu_multi_thread_eigen={multi} intra_op_parallelism_threads={n}"


def environment(threads: int) -> dict[str, str]:
    """The variables that size torch's, TensorFlow's and XLA's CPU thread pools to `threads`."""
    n = str(threads)
    xla = _XLA_FLAGS.format(multi="true" if threads > 1 else "false", n=n)
    current = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                       if not f.startswith(("--xla_cpu_multi_thread_eigen", "intra_op_parallelism_threads")))
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n,
            "XLA_FLAGS": f"{current} {xla}".strip()}


def use(threads: int) -> None:
    """Size this process's pools (call before importing a framework; torch is also set if already imported)."""
    os.environ.update(environment(threads))
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
