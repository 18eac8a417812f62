"""Batch samplers for contrastive training.

With random batches of 32 MusicSet clips, key, register and instrument alone nearly identify each clip, so the
aligner's InfoNCE loss can be met without learning the melody itself; on the 1,000-clip test split the v1
aligner's wrong audio->melody matches share the true clip's key 34% of the time (5% by chance). Drawing each batch
from a few groups of clips that share such an attribute makes the negatives hard on purpose.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterator, Sequence

import numpy as np


class GroupedBatchSampler:
    """Batches of `groups_per_batch` distinct groups x `batch_size // groups_per_batch` rows of each group.

    Every epoch (`set_epoch`) reshuffles the rows within each group and the order of the groups' chunks, seeded by
    `(seed, epoch)`, so a resumed run sees the same batches. Rows of groups smaller than one chunk, and each
    group's remainder, are left out of that epoch (a different remainder each epoch).

    Args:
        labels (`Sequence[Hashable]`): the group of every row (e.g. the MusicSet `key` column).
        batch_size (`int`): rows per batch, a multiple of `groups_per_batch`.
        groups_per_batch (`int`): distinct groups in each batch.
        seed (`int`): seed of the shuffles.
    """

    def __init__(self, labels: Sequence[Hashable], batch_size: int, groups_per_batch: int, seed: int = 0):
        if groups_per_batch < 1 or batch_size % groups_per_batch:
            raise ValueError(
                f"batch_size ({batch_size}) must be a positive multiple of groups_per_batch ({groups_per_batch})"
            )
        self.chunk = batch_size // groups_per_batch
        self.groups_per_batch = groups_per_batch
        self.seed = seed
        self.epoch = 0
        rows = defaultdict(list)
        for index, label in enumerate(labels):
            rows[label].append(index)
        self.groups = [np.asarray(ix) for _, ix in sorted(rows.items(), key=lambda kv: str(kv[0]))]
        self.groups = [ix for ix in self.groups if len(ix) >= self.chunk]
        if len(self.groups) < groups_per_batch:
            raise ValueError(
                f"only {len(self.groups)} group(s) have at least {self.chunk} rows; {groups_per_batch} are needed "
                "per batch (lower --groups_per_batch or --train_batch_size)"
            )
        self.num_batches = sum(len(ix) // self.chunk for ix in self.groups) // groups_per_batch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        chunks = []
        for group, ix in enumerate(self.groups):
            ix = rng.permutation(ix)
            chunks += [(group, ix[c * self.chunk : (c + 1) * self.chunk]) for c in range(len(ix) // self.chunk)]
        pending = [chunks[i] for i in rng.permutation(len(chunks))]
        for _ in range(self.num_batches):
            picked, seen = [], set()
            for position, (group, _) in enumerate(pending):
                if group not in seen:
                    picked.append(position)
                    seen.add(group)
                    if len(picked) == self.groups_per_batch:
                        break
            # at the very end of an epoch the last chunks may all come from too few groups: take them anyway
            picked += [p for p in range(len(pending)) if p not in picked][: self.groups_per_batch - len(picked)]
            batch = [pending[p][1] for p in picked]
            taken = set(picked)
            pending = [chunk for p, chunk in enumerate(pending) if p not in taken]
            yield np.concatenate(batch).tolist()
