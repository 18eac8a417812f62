"""Resumable, parallel execution of builder jobs, with results written incrementally to a work folder.

Each job (one source file, or one synthetic rendering) has a stable `key`. When it finishes, the main process
writes its rows to ``<work_dir>/<key>.arrow`` and then a ``<key>.done.json`` marker (with the inputs it skipped
and why). A rerun after the build was killed skips every job that has a marker, so the build resumes where
it stopped. The rows are finally memory-mapped back with `load_results`, so a large build never needs to
hold all its audio in memory.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context

from .format import MusicSetError


@dataclass
class Job:
    """One unit of work: `key` names its result files (letters, digits, `-`, `_`, `.`); `payload` is its input."""

    key: str
    payload: object


@dataclass
class JobResult:
    """What a job produced: dataset rows, and the inputs it skipped as dicts ``{"input": ..., "reason": ...}``."""

    rows: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


def _marker(work_dir: str, key: str) -> str:
    return os.path.join(work_dir, f"{key}.done.json")


def _write_result(work_dir: str, key: str, result: JobResult, features) -> None:
    import pyarrow as pa

    if result.rows:
        table = pa.Table.from_pylist(result.rows, schema=features.arrow_schema)
        tmp = os.path.join(work_dir, f"{key}.arrow.tmp")
        with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, os.path.join(work_dir, f"{key}.arrow"))
    tmp = _marker(work_dir, key) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"rows": len(result.rows), "skipped": result.skipped}, f)
    os.replace(tmp, _marker(work_dir, key))  # the marker is written last: it means "this job is complete"


def pending_jobs(jobs: Sequence[Job], work_dir: str) -> list[Job]:
    """The jobs that have no completion marker in `work_dir`."""
    return [job for job in jobs if not os.path.isfile(_marker(work_dir, job.key))]


def run_jobs(
    jobs: Sequence[Job],
    worker: Callable[[object], JobResult],
    work_dir: str | os.PathLike,
    features,
    *,
    num_proc: int = 1,
    desc: str = "building",
    progress: bool = True,
) -> int:
    """Run the jobs not yet done, writing each result as soon as it arrives.

    Args:
        jobs (`Sequence[Job]`): all jobs of the build (finished ones are skipped).
        worker (`Callable`): a module-level function `payload -> JobResult` (it must pickle for `num_proc > 1`).
        work_dir: folder for the per-job results.
        features (`datasets.Features`): the schema every row follows.
        num_proc (`int`): worker processes (1 runs in this process).
        desc (`str`): progress bar label. progress (`bool`): show a tqdm progress bar.
    Returns:
        `int`, the number of jobs run now (not counting those already done).
    """
    from tqdm.auto import tqdm

    work_dir = os.fspath(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    todo = pending_jobs(jobs, work_dir)
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc, unit="job", disable=not progress)
    try:
        if num_proc <= 1 or len(todo) <= 1:
            for job in todo:
                _write_result(work_dir, job.key, worker(job.payload), features)
                bar.update()
        else:
            # spawn: workers must not inherit a parent's ONNX / FluidSynth state
            with ProcessPoolExecutor(max_workers=num_proc, mp_context=get_context("spawn")) as pool:
                futures = {pool.submit(worker, job.payload): job for job in todo}
                try:
                    for future in as_completed(futures):
                        _write_result(work_dir, futures[future].key, future.result(), features)
                        bar.update()
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    finally:
        bar.close()
    return len(todo)


def collect_skipped(jobs: Iterable[Job], work_dir: str | os.PathLike) -> list[dict]:
    """The skipped inputs recorded by every finished job, in job order."""
    skipped = []
    for job in jobs:
        path = _marker(os.fspath(work_dir), job.key)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                skipped.extend(json.load(f)["skipped"])
    return skipped


def load_results(jobs: Iterable[Job], work_dir: str | os.PathLike, features):
    """Memory-map the rows of every finished job into one `datasets.Dataset` (job order)."""
    import datasets

    parts = []
    for job in jobs:
        path = os.path.join(os.fspath(work_dir), f"{job.key}.arrow")
        if os.path.isfile(path):
            parts.append(datasets.Dataset.from_file(path))
    if not parts:
        return datasets.Dataset.from_list([], features=features)
    dataset = datasets.concatenate_datasets(parts)
    return dataset.cast(features) if dataset.features != features else dataset


def prepare_output(output_dir: str, overwrite: bool) -> str:
    """Create the output folder; refuse to clobber a finished MusicSet unless `overwrite`. Returns the work dir."""
    work_dir = os.path.join(output_dir, "_work")
    finished = os.path.isfile(os.path.join(output_dir, "dataset_dict.json"))
    if finished and not os.path.isdir(work_dir):
        if not overwrite:
            raise MusicSetError(f"'{output_dir}' already holds a MusicSet; pass overwrite=True (--overwrite)")
        for name in os.listdir(output_dir):
            target = os.path.join(output_dir, name)
            shutil.rmtree(target) if os.path.isdir(target) else os.remove(target)
    os.makedirs(work_dir, exist_ok=True)
    return work_dir
