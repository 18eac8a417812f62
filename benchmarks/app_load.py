"""End-to-end latency of the Space and the CLI, and the Space under 16 concurrent requests.

Starts `app.py --model MODEL` on 127.0.0.1 (a free port) in a subprocess and drives it with `gradio_client`:

- `app`: a 10 s text-to-music generation (`/text_to_music`, `--steps` steps) timed from the client, `--repeats`
  times one after another after one warm-up call that loads the model (its time is `cold_first_call_s`); median.
- `cli`: `python -m mmgen generate PROMPT --seconds 10 ...` timed as a whole process (start, imports, model
  load, generation, writing the WAV), `--repeats` times; median. The in-process part (`total_s` of `--json`) too.
- `concurrent`: `--concurrent` users (one `gradio_client.Client` each) submit at once, cycling through
  text-to-music, music-to-music (the bundled example recording) and melody inspection; every request must finish
  within `--timeout` s; failures (errors and time-outs) are counted and listed.

Bounded: at most 20 repeats and 64 concurrent requests; the app is stopped at the end whatever happens.

    nice -n 10 .venv/bin/python benchmarks/app_load.py --model checkpoints/mmgen-default
    -> benchmarks/results/app_load.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from mmgen.app import defaults, logic
from mmgen.eval.bench import write_json

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROMPT = "A calm folk melody played on a solo flute, gentle and airy"
EXAMPLE_AUDIO = os.path.join(ROOT, "examples", "example_melody.flac")
ENDPOINT_CYCLE = ("text_to_music", "music_to_music", "inspect_melody", "text_to_music")
MAX_REPEATS = 20
MAX_CONCURRENT = 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(model: str, port: int, concurrency: int, queue: int, log_path: str, timeout_s: float):
    """`app.py` in a subprocess; returns it once the page answers."""
    import urllib.request

    log = open(log_path, "w")  # noqa: SIM115 - closed by stop_app
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, os.path.join(ROOT, "app.py"), "--model", model, "--port", str(port),
               "--concurrency", str(concurrency), "--max-queue", str(queue)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    process.log = log
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    stop_app(process)
    raise TimeoutError(f"app.py did not answer within {timeout_s:.0f} s; see {log_path}")


def stop_app(process) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    process.log.close()


def t2m_args(seconds: float, steps: int, seed: int) -> tuple:
    # prompt, negative, melody tokens, seconds, steps, guidance, melody guidance, candidates, seed, scheduler
    return (PROMPT, "", "", seconds, steps, defaults.DEFAULT_GUIDANCE, 1.0, 1, seed, "default")


def request(client, endpoint: str, seconds: float, steps: int, seed: int):
    from gradio_client import handle_file

    if endpoint == "text_to_music":
        return client.submit(*t2m_args(seconds, steps, seed), api_name="/text_to_music")
    if endpoint == "music_to_music":
        args = (handle_file(EXAMPLE_AUDIO), "", 0.3, False, "", seconds, steps, defaults.DEFAULT_GUIDANCE, 1.0, 1,
                seed, "default")  # fmt: skip
        return client.submit(*args, api_name="/music_to_music")
    return client.submit(handle_file(EXAMPLE_AUDIO), "none", api_name="/inspect_melody")


def summary(values: list[float]) -> dict:
    return {
        "median_s": round(statistics.median(values), 3),
        "min_s": round(min(values), 3),
        "max_s": round(max(values), 3),
        "runs_s": [round(v, 3) for v in values],
    }


def bench_app(client, args) -> dict:
    start = time.perf_counter()
    client.predict(*t2m_args(args.seconds, args.steps, 0), api_name="/text_to_music")  # loads the model
    cold = time.perf_counter() - start
    latencies = []
    for i in range(args.repeats):
        start = time.perf_counter()
        audio, timing, *_ = client.predict(*t2m_args(args.seconds, args.steps, i + 1), api_name="/text_to_music")
        latencies.append(time.perf_counter() - start)
        assert os.path.getsize(audio) > 0, "no audio came back"
        print(f"  app run {i + 1}: {latencies[-1]:.2f} s ({timing})", file=sys.stderr)
    return {"cold_first_call_s": round(cold, 3), **summary(latencies)}


def bench_cli(args) -> dict:
    latencies, in_process = [], []
    with tempfile.TemporaryDirectory(prefix="mmgen-app-load-") as work:
        for i in range(args.repeats):
            out, report = os.path.join(work, f"cli{i}.wav"), os.path.join(work, f"cli{i}.json")
            command = [sys.executable, "-m", "mmgen", "generate", PROMPT, "-o", out, "--model", args.model,
                       "--seconds", str(args.seconds), "--steps", str(args.steps), "--seed", str(i), "--json", report,
                       "-q"]  # fmt: skip
            start = time.perf_counter()
            result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout)
            latencies.append(time.perf_counter() - start)
            if result.returncode != 0:
                raise RuntimeError(f"the CLI failed: {result.stderr.strip()[-2000:]}")
            with open(report, encoding="utf-8") as f:
                in_process.append(json.load(f)["timings"]["total_s"])
            print(f"  cli run {i + 1}: {latencies[-1]:.2f} s", file=sys.stderr)
    return {**summary(latencies), "in_process_total_median_s": round(statistics.median(in_process), 3)}


def bench_concurrent(url: str, args) -> dict:
    from gradio_client import Client

    endpoints = [ENDPOINT_CYCLE[i % len(ENDPOINT_CYCLE)] for i in range(args.concurrent)]
    with ThreadPoolExecutor(max_workers=min(args.concurrent, 16)) as pool:  # one client (session) per user
        clients = list(pool.map(lambda _: Client(url, verbose=False), range(args.concurrent)))
    start = time.perf_counter()
    jobs = [
        request(c, e, args.concurrent_seconds, args.steps, 100 + i) for i, (c, e) in enumerate(zip(clients, endpoints))
    ]
    latencies, failures = [], []
    pending = dict(enumerate(jobs))
    deadline = start + args.timeout
    while pending and time.perf_counter() < deadline:  # poll: a Job delegates to an inner future
        for i, job in list(pending.items()):
            if not job.done():
                continue
            del pending[i]
            try:
                job.result()
                latencies.append(time.perf_counter() - start)
            except Exception as err:  # AppError, connection errors: all count
                failures.append(
                    {"request": i, "endpoint": endpoints[i], "error": f"{type(err).__name__}: {err}"[:300]}
                )
        time.sleep(0.1)
    for i, job in pending.items():
        failures.append({"request": i, "endpoint": endpoints[i], "error": f"not done after {args.timeout:.0f} s"})
        job.cancel()
    wall = time.perf_counter() - start
    for client in clients:
        client.close()
    return {
        "requests": args.concurrent,
        "by_endpoint": {e: endpoints.count(e) for e in sorted(set(endpoints))},
        "generation_seconds": args.concurrent_seconds,
        "failures": len(failures),
        "failure_details": failures,
        "wall_s": round(wall, 3),
        "completed_after_s": summary(latencies) if latencies else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=logic.DEFAULT_MODEL, help="Pipeline folder (MMGenPipeline).")
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of the timed generations.")
    parser.add_argument("--steps", type=int, default=defaults.DEFAULT_STEPS, help="Denoising steps per generation.")
    parser.add_argument(
        "--repeats", type=int, default=5, help=f"Timed runs of the app and of the CLI (<= {MAX_REPEATS})."
    )
    parser.add_argument("--concurrent", type=int, default=16, help=f"Simultaneous requests (<= {MAX_CONCURRENT}).")
    parser.add_argument("--concurrent-seconds", type=float, default=10.0, help="Length of the concurrent generations.")
    parser.add_argument("--concurrency", type=int, default=1, help="The app's --concurrency (parallel generations).")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="Limit for the concurrent batch and each CLI run."
    )
    parser.add_argument("--skip-cli", action="store_true", help="Only measure the app.")
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results", "app_load.json"))
    args = parser.parse_args(argv)
    if not 1 <= args.repeats <= MAX_REPEATS or not 1 <= args.concurrent <= MAX_CONCURRENT:
        parser.error(f"--repeats must be 1-{MAX_REPEATS} and --concurrent 1-{MAX_CONCURRENT}")
    if not logic.PipelineStore(args.model).available:
        print(f"error: {logic.model_missing_message(args.model)}", file=sys.stderr)
        return 1
    import torch
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = os.path.join(tempfile.gettempdir(), f"mmgen-app-load-{port}.log")
    results = {
        "benchmark": "app_load",
        "command": "python benchmarks/app_load.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "model": args.model,
        "settings": {
            "seconds": args.seconds,
            "steps": args.steps,
            "repeats": args.repeats,
            "concurrent": args.concurrent,
            "concurrent_seconds": args.concurrent_seconds,
            "app_concurrency": args.concurrency,
            "prompt": PROMPT,
        },  # fmt: skip
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(),
        },  # fmt: skip
    }
    process = start_app(args.model, port, args.concurrency, max(64, args.concurrent), log_path, timeout_s=300)
    try:
        print(f"app on {url} (log {log_path})", file=sys.stderr)
        client = Client(url, verbose=False)
        results["app"] = bench_app(client, args)
        client.close()
        print(f"concurrent: {args.concurrent} requests", file=sys.stderr)
        results["concurrent"] = bench_concurrent(url, args)
    finally:
        stop_app(process)
    if not args.skip_cli:
        results["cli"] = bench_cli(args)
    write_json(args.output, results)
    concurrent = results["concurrent"]
    print(
        f"app median {results['app']['median_s']:.2f} s"
        + (f", cli median {results['cli']['median_s']:.2f} s" if "cli" in results else "")
        + f"; {concurrent['requests']} concurrent requests: {concurrent['failures']} failures in "
        f"{concurrent['wall_s']:.1f} s -> {args.output}",
        file=sys.stderr,
    )
    return 0 if concurrent["failures"] == 0 else 2


if __name__ == "__main__":
    sys.exit(main())
