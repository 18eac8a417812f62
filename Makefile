# The README's first two commands: `make demo` and `make test`. Both set up first (idempotent, seconds when done).
PY := .venv/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: setup demo test test-fast lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m mmgen demo --output-dir outputs/demo

# Two test processes of one BLAS/OpenMP thread each: the suite's tiny models run faster without thread start-up and
# contention, and two processes fill a 2-core CI machine (8 min against 12 for one process).
test: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 -q -ra tests

test-fast: setup
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 -q -ra -m "not slow" tests

lint: setup
	.venv/bin/ruff check .

clean:
	rm -rf outputs .pytest_cache
