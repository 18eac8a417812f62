"""Training crash safety (issue 16, item 12): SIGKILL a tiny training run at random moments and resume it each time.

Each round launches `train/vae.py` (tiny preset, the fabricated 7-clip MusicSet of its smoke test, a checkpoint every
`--interval` steps, `--checkpoints_total_limit 1`, `--resume_from_checkpoint latest`) and SIGKILLs it:

- `random` rounds: at a random moment within `--max_delay` s after it resumed (training steps, checkpoint writes,
  rotation);
- `during-save` rounds: as soon as a `.partial-checkpoint-*` folder appears, i.e. while a checkpoint is written
  (whether the kill landed before the rename is read from the folder it leaves).

Checked for every round: the run that follows resumes from the newest complete checkpoint the kill left (its log
says `resumed from checkpoint-S`, or it starts fresh when there was none) without a traceback, and the steps lost
(the last step logged before the kill minus S) are at most one checkpoint interval. A last round trains to the end
and must exit 0.

    nice -n 19 env OMP_NUM_THREADS=1 .venv/bin/python benchmarks/hardening.py --kills 24
    -> benchmarks/results/hardening.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

from mmgen.eval.bench import write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STEP_RE = re.compile(r"step (\d+): ")
RESUMED_RE = re.compile(r"resumed from \S*checkpoint-(\d+) at step (\d+)")


def test_fixtures():
    """`tests/fixtures.py` (the training smoke tests' tiny MusicSet), loaded from its file."""
    spec = importlib.util.spec_from_file_location("mmgen_test_fixtures", os.path.join(ROOT, "tests", "fixtures.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=24, help="SIGKILL rounds (at least 20 for the issue).")
    parser.add_argument("--interval", type=int, default=2, help="--checkpointing_steps of the killed run.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the kill moments.")
    parser.add_argument(
        "--max_delay", type=float, default=3.0,
        help="`random` rounds: kill uniformly within this many seconds after the run resumed.",
    )  # fmt: skip
    parser.add_argument(
        "--round_timeout", type=float, default=1200.0,
        help="Give up on a round after this (s; a niced run on a busy machine can take minutes to start).",
    )  # fmt: skip
    parser.add_argument("--work_dir", default=None, help="Scratch folder (default: a new temporary one).")
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results", "hardening.json"))
    return parser.parse_args(argv)


def command(dataset: str, out: str, interval: int, max_steps: int) -> list[str]:
    return [
        sys.executable, os.path.join(ROOT, "train", "vae.py"), "--dataset", dataset, "--output_dir", out,
        "--vae_preset", "tiny", "--train_batch_size", "2", "--crop_seconds", "0.5", "--disc_weight", "0",
        "--checkpointing_steps", str(interval), "--checkpoints_total_limit", "1", "--validation_steps", "1000000",
        "--num_validation_clips", "1", "--num_validation_samples", "1", "--validation_vocoder_method", "griffinlim",
        "--scaling_factor_batches", "1", "--report_to", "none", "--lr_scheduler", "constant", "--lr_warmup_steps", "0",
        "--logging_steps", "1", "--num_threads", "1", "--max_train_steps", str(max_steps),
        "--resume_from_checkpoint", "latest",
    ]  # fmt: skip


def newest_complete(out: str) -> int:
    from mmgen.training_utils import checkpoint_step, list_checkpoints

    complete = list_checkpoints(out)
    return checkpoint_step(complete[-1]) if complete else 0


def read_log(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def last_step(log: str) -> int | None:
    steps = [int(m) for m in STEP_RE.findall(log)]
    return max(steps) if steps else None


def partials(out: str) -> set[tuple[str, int, int]]:
    """The `.partial-checkpoint-*` folders in `out`, each as (name, inode, ctime): a new save makes a new folder."""
    found = set()
    for entry in os.listdir(out):
        if entry.startswith(".partial-"):
            try:
                st = os.stat(os.path.join(out, entry))
            except OSError:  # renamed meanwhile
                continue
            found.add((entry, st.st_ino, st.st_ctime_ns))
    return found


def run_round(cmd, log_path, env, mode, delay_s, timeout_s, out) -> dict:
    """Start the run, kill it as `mode` says (`random`: `delay_s` after it resumed; `during-save`: as soon as it
    starts writing a checkpoint; otherwise let it finish), return what happened."""
    started, before = time.perf_counter(), partials(out)  # a kill may have left one behind: not this run's
    resumed_at = None
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        while proc.poll() is None and time.perf_counter() - started < timeout_s:
            if resumed_at is None and "parameters," in read_log(log_path):  # logged right after resuming
                resumed_at = time.perf_counter()
            if mode == "random" and resumed_at is not None and time.perf_counter() - resumed_at >= delay_s:
                break
            if mode == "during-save" and resumed_at is not None and partials(out) - before:
                break
            time.sleep(0.001 if mode == "during-save" and resumed_at is not None else 0.02)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    return {"killed": killed, "exit_code": proc.returncode, "seconds": round(time.perf_counter() - started, 2),
            "kill_landed_mid_write": killed and bool(partials(out) - before),
            "log": read_log(log_path)}  # fmt: skip


def main(argv=None) -> dict:

    args = parse_args(argv)
    rng = random.Random(args.seed)
    work = args.work_dir or tempfile.mkdtemp(prefix="mmgen-hardening-")
    dataset = test_fixtures().save_tiny_musicset(
        os.path.join(work, "musicset"), rows={"train": 3, "validation": 2, "test": 2}, seconds=1.5
    )
    out = os.path.join(work, "vae")
    os.makedirs(out, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = command(dataset, out, args.interval, max_steps=1_000_000)

    rounds = []
    for i in range(args.kills + 1):
        final = i == args.kills
        expected = newest_complete(out)
        mode = "finish" if final else ("during-save" if i % 2 else "random")
        delay = rng.uniform(0.0, args.max_delay) if mode == "random" else 0.0
        run_cmd = command(dataset, out, args.interval, expected + 2 * args.interval) if final else cmd
        log_path = os.path.join(work, f"round-{i:02d}.log")
        result = run_round(run_cmd, log_path, env, mode, delay, args.round_timeout, out)
        log = result.pop("log")
        resumed = RESUMED_RE.search(log)
        reached_resume = resumed is not None or "parameters," in log  # the line logged right after resuming
        resumed_step = int(resumed.group(1)) if resumed else (0 if reached_resume else None)
        reached = last_step(log)
        after = newest_complete(out)
        record = {
            "round": i, "mode": mode, "kill_after_s": round(delay, 2) if mode == "random" else None,
            "complete_checkpoint_at_start": expected, "reached_resume": reached_resume, "resumed_step": resumed_step,
            "resumed_from_newest_complete": None if resumed_step is None else resumed_step == expected,
            "last_step_logged": reached, "complete_checkpoint_after_kill": after,
            "steps_lost": None if reached is None else max(reached - after, 0),
            "traceback": "Traceback" in log, **result,
        }  # fmt: skip
        if final:
            record["finished"] = result["exit_code"] == 0 and os.path.isfile(
                os.path.join(out, "diffusion_pytorch_model.safetensors")
            )
            if not record["finished"]:
                record["log_tail"] = log[-3000:]
        elif record["traceback"]:
            record["log_tail"] = log[-3000:]
        rounds.append(record)
        print(json.dumps({k: v for k, v in record.items() if k != "log_tail"}), flush=True)

    kills = [r for r in rounds if r["mode"] != "finish"]
    resumes = [r for r in rounds if r["reached_resume"] and r["round"] > 0]
    lost = [r["steps_lost"] for r in kills if r["steps_lost"] is not None]
    result = {
        "command": "python benchmarks/hardening.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared, niced)",
        "script": "train/vae.py --vae_preset tiny (a checkpoint every --interval steps, --checkpoints_total_limit 1)",
        "interval": args.interval,
        "max_delay_s": args.max_delay,
        "kills": len([r for r in kills if r["killed"]]),
        "kills_during_save": sum(r["mode"] == "during-save" and r["killed"] for r in kills),
        "kills_landed_mid_write": sum(r["kill_landed_mid_write"] for r in kills),
        "resumes_checked": len(resumes),
        "resumes_ok": sum(bool(r["resumed_from_newest_complete"]) and not r["traceback"] for r in resumes),
        "tracebacks": sum(r["traceback"] for r in rounds),
        "max_steps_lost": max(lost) if lost else None,
        "steps_lost_within_one_interval": all(x <= args.interval for x in lost),
        "final_run_finished": rounds[-1].get("finished", False),
        "final_step": newest_complete(out),
        "rounds": rounds,
    }
    write_json(args.output, result)
    summary = {k: v for k, v in result.items() if k != "rounds"}
    print(json.dumps(summary, indent=2))
    return result


if __name__ == "__main__":
    main()
