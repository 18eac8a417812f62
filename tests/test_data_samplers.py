"""GroupedBatchSampler: hard-negative batches drawn from a few groups sharing an attribute."""

import collections

import pytest
import torch

from mmgen.data import GroupedBatchSampler

LABELS = [f"key-{i % 6}" for i in range(100)] + ["rare"] * 3  # "rare" has fewer rows than one chunk


def test_every_batch_holds_whole_chunks_of_distinct_groups():
    sampler = GroupedBatchSampler(LABELS, batch_size=8, groups_per_batch=2, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == sum(n // 4 for n in collections.Counter(LABELS[:100]).values()) // 2
    for batch in batches:
        counts = collections.Counter(LABELS[i] for i in batch)
        assert len(batch) == 8 and sorted(counts.values()) == [4, 4]
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat)) and all(i < 100 for i in flat)  # no row twice; the rare group is left out


def test_epochs_are_seeded_and_differ():
    sampler = GroupedBatchSampler(LABELS, batch_size=8, groups_per_batch=2, seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    sampler.set_epoch(0)
    assert list(sampler) == first and second != first
    assert list(GroupedBatchSampler(LABELS, 8, 2, seed=4)) != first


def test_works_as_a_dataloader_batch_sampler():
    sampler = GroupedBatchSampler(LABELS, batch_size=6, groups_per_batch=3)
    loader = torch.utils.data.DataLoader(list(range(len(LABELS))), batch_sampler=sampler)
    assert [b.tolist() for b in loader] == list(sampler)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="multiple of groups_per_batch"):
        GroupedBatchSampler(LABELS, batch_size=7, groups_per_batch=2)
    with pytest.raises(ValueError, match="only 1 group"):
        GroupedBatchSampler(["a"] * 10, batch_size=4, groups_per_batch=2)
