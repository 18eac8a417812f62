import atexit
import logging
import os
import sys

from mmgen.cli import main

if __name__ == "__main__":
    code = main()
    # Every output is written and closed by now. The interpreter's own teardown (freeing torch, transformers and the
    # loaded models module by module) takes seconds after a generation (benchmarks/results/latency.json): run the exit
    # handlers and flush, then end the process without it.
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
