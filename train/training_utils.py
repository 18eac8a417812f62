"""Moved to `mmgen.training_utils` (issue 21). This name stays only for `benchmarks/hardening.py`, which imports
`training_utils` from this folder; new code imports `mmgen.training_utils`."""

from mmgen.training_utils import *  # noqa: F401,F403
