"""The pitch range of the melodies the default model was trained on: the target of the octave fold.

Reads the `melody` token strings of a MusicSet split (Arrow, no audio decoded) and reports pitch percentiles;
`mmgen.melody.shaping.TRAINED_RANGE` is the 1st to 99th percentile of the small set's train split.

    .venv/bin/python benchmarks/melody_range.py --dataset data/musicset-small --split train
    -> benchmarks/results/melody_range.json
"""

from __future__ import annotations

import argparse
import glob
import os

import numpy as np
import pyarrow as pa

from mmgen.eval.bench import write_json
from mmgen.melody.tokenizer import string_to_notes

PERCENTILES = (0, 0.5, 1, 5, 50, 95, 99, 99.5, 100)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="data/musicset-small", help="A MusicSet folder (save_to_disk layout).")
    parser.add_argument("--split", default="train", help="The split to read.")
    parser.add_argument("--output", default="benchmarks/results/melody_range.json", help="Where to write the JSON.")
    args = parser.parse_args()
    pitches = []
    files = sorted(glob.glob(os.path.join(args.dataset, args.split, "*.arrow")))
    if not files:
        raise SystemExit(f"no Arrow files in {os.path.join(args.dataset, args.split)}")
    for path in files:
        with pa.memory_map(path) as source:
            table = pa.ipc.open_stream(source).read_all().select(["melody"])
        for tokens in table.column("melody").to_pylist():
            pitches.extend(n.pitch for n in string_to_notes(tokens or ""))
    values = np.percentile(pitches, PERCENTILES)
    result = {
        "command": f"python benchmarks/melody_range.py --dataset {args.dataset} --split {args.split}",
        "notes": len(pitches),
        "percentiles": {str(p): float(v) for p, v in zip(PERCENTILES, values)},
        "range_1_99": [int(round(values[2])), int(round(values[6]))],
    }
    write_json(args.output, result, echo=True)


if __name__ == "__main__":
    main()
