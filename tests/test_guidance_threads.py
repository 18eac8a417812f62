"""Guidance branches side by side (`mmgen.guidance_threads`): each worker its own intra-op thread count, the caller's
and the process-wide count untouched, results in order, errors passed on."""

import threading

import pytest
import torch

from mmgen.guidance_threads import GuidanceBranchWorkers


def test_workers_run_with_their_own_thread_count_and_leave_the_callers_alone():
    torch.set_num_threads(2)
    try:
        with GuidanceBranchWorkers(2) as workers:
            assert workers.threads_each == 1 and workers.active
            seen = workers.map(lambda i: (i, threading.current_thread().name, torch.get_num_threads()), range(4))
            assert torch.get_num_threads() == 2
        assert not workers.active
        assert [i for i, _, _ in seen] == [0, 1, 2, 3]  # in order
        assert {threads for _, _, threads in seen} == {1}
        assert {name.rsplit("_", 1)[0] for _, name, _ in seen} == {"mmgen-guidance"}
        assert len({name for _, name, _ in seen}) <= 2
        fresh = []
        thread = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
        thread.start()
        thread.join()
        assert fresh == [2]  # a thread started later begins from the caller's count, not the workers'
        with GuidanceBranchWorkers(1, threads_each=2) as one:
            assert one.map(lambda _: torch.get_num_threads(), [0]) == [2]
    finally:
        torch.set_num_threads(2)


def test_worker_results_match_the_calling_thread_and_errors_reach_the_caller():
    x = torch.randn(2, 3, 16, 16)
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    with torch.no_grad(), GuidanceBranchWorkers(2) as workers:
        together = torch.cat(workers.map(conv, x.chunk(2)))
        torch.testing.assert_close(together, torch.cat([conv(b) for b in x.chunk(2)]))

        def fail(i):
            raise ValueError(f"branch {i} failed")

        with pytest.raises(ValueError, match="branch 0 failed"):
            workers.map(fail, range(2))
    with pytest.raises(RuntimeError, match="outside its `with` block"):
        workers.map(conv, x.chunk(2))
    with pytest.raises(ValueError, match="at least 1"):
        GuidanceBranchWorkers(0)
