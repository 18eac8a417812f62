"""Classifier-free guidance branches side by side on a CPU's cores.

A guided denoising step runs the UNet on two (or three) copies of the latents. On CPU one batched call spreads each
convolution over the cores, which for this project's small latents scales poorly (two threads on the batch of two
run 1.7x faster than one thread); one single-thread call per branch, the branches on different cores, avoids that
(`MMGenPipeline.__call__(parallel_guidance=True)`). Measured on a quiet 2-core machine it is no faster as a whole
(`benchmarks/results/latency.json`: `default` against `default_parallel_guidance`), so the pipeline batches by
default; with another job on the other core one branch step took 0.24 s side by side against 0.30 s batched.

PyTorch's intra-op thread count is per thread once a thread has run an op, but a thread takes the process-wide count
the first time it does: so each worker sets its own count right after that first use, and the caller's count (and
the process-wide one that later threads start from) is put back before any work is handed out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import torch


class GuidanceBranchWorkers:
    """`size` worker threads with `threads_each` intra-op threads each, for one `with` block.

    Args:
        size (`int`): workers, one per guidance branch.
        threads_each (`int`, *optional*): intra-op threads of each worker (default: the caller's count / `size`, at
            least 1).
    """

    def __init__(self, size: int, threads_each: int | None = None):
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.size = size
        self.threads_each = threads_each or max(1, torch.get_num_threads() // size)
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> GuidanceBranchWorkers:
        caller_threads = torch.get_num_threads()  # also fixes the caller's own count before the workers change it
        started = threading.Barrier(self.size + 1)

        def start_worker():
            torch.get_num_threads()  # the first use takes the process-wide count; only then is the count our own
            torch.set_num_threads(self.threads_each)
            started.wait()

        self._pool = ThreadPoolExecutor(self.size, thread_name_prefix="mmgen-guidance")
        for _ in range(self.size):  # one blocking task per worker makes the pool start all of them now
            self._pool.submit(start_worker)
        started.wait()
        torch.set_num_threads(caller_threads)
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    @property
    def active(self) -> bool:
        """Inside the `with` block (the workers are running)."""
        return self._pool is not None

    def map(self, fn: Callable[..., torch.Tensor], *iterables: Iterable) -> list[torch.Tensor]:
        """`[fn(*args) for args in zip(*iterables)]`, one call per worker at a time; exceptions reach the caller."""
        if self._pool is None:
            raise RuntimeError("GuidanceBranchWorkers.map outside its `with` block")
        return list(self._pool.map(fn, *iterables))
