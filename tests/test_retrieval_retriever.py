import gzip
import json
import logging
import os

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline

from mmgen.retrieval import (
    INDEX_TYPES,
    EmptyDatabaseError,
    MelodyRetriever,
    RetrievalOutput,
    RetrieverError,
    RetrieverLoadError,
)
from mmgen.retrieval.index import l2_normalize

DIM = 16


def fake_rows(n, start=0):
    return [
        {"id": f"clip-{i}", "melody": f"<C4>,<{100 + i % 50}>,<79>", "caption": f"tune {i}", "source": "synth"}
        for i in range(start, start + n)
    ]


def fake_embeddings(n, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, DIM))
    return l2_normalize(centres[rng.integers(0, 6, n)] + 0.6 * rng.standard_normal((n, DIM)))


@pytest.fixture
def retriever():
    return MelodyRetriever.from_embeddings(fake_embeddings(300), fake_rows(300), index_type="flat")


class StandInAligner:
    """The aligner's `embed_melody` contract: L2-normalised `(B, D)` torch, deterministic per string."""

    name_or_path = "stand-in-aligner"

    def __init__(self):
        self.calls = 0

    def embed_melody(self, melodies):
        self.calls += 1
        vectors = [np.random.default_rng(sum(map(ord, m))).standard_normal(DIM) for m in melodies]
        return torch.nn.functional.normalize(torch.tensor(np.array(vectors), dtype=torch.float32), dim=-1)


@pytest.mark.parametrize("index_type", INDEX_TYPES)
def test_search_every_index_type(index_type):
    embeds = fake_embeddings(400)
    retriever = MelodyRetriever.from_embeddings(embeds, fake_rows(400), index_type=index_type)
    queries = torch.from_numpy(embeds[:8] * 3.0)  # not normalised: search normalises
    output = retriever.search(queries, k=4)
    assert isinstance(output, RetrievalOutput)
    assert output.ids.shape == (8, 4) and output.ids.dtype == torch.int64
    assert output.scores.shape == (8, 4) and output.embeddings.shape == (8, 4, DIM)
    assert output.embeddings.dtype == torch.float32
    assert output.ids[:, 0].tolist() == list(range(8))
    torch.testing.assert_close(output.scores[:, 0], torch.ones(8), atol=1e-4, rtol=0)
    torch.testing.assert_close(output.embeddings, retriever.embeddings[output.ids])
    assert [[m["id"] for m in row] for row in output.metadata] == [[f"clip-{i}" for i in r] for r in output.ids]
    assert set(output.metadata[0][0]) == {"id", "melody", "caption", "source"}
    assert retriever.config.embedding_dim == DIM and retriever.config.index_type == index_type


def test_search_accepts_one_numpy_vector_and_clamps_k(retriever):
    output = retriever.search(fake_embeddings(300)[7], k=1000)
    assert output.ids.shape == (1, 300)  # k clamped to the database size
    assert sorted(output.ids[0].tolist()) == list(range(300))
    assert torch.all(output.scores[0, :-1] >= output.scores[0, 1:])


def test_ivf_with_few_probes_never_returns_missing_ids():
    embeds = fake_embeddings(200)
    retriever = MelodyRetriever.from_embeddings(embeds, index_type="ivf", nlist=5, nprobe=1)
    output = retriever.search(embeds[:10], k=150)  # one cluster holds fewer than 150 vectors
    assert output.ids.min() >= 0
    assert all(len(set(row)) == 150 for row in output.ids.tolist())
    assert retriever.metadata[3] == {"id": "3", "melody": "", "caption": "", "source": ""}


def test_empty_database_raises_then_add_works():
    retriever = MelodyRetriever(embedding_dim=DIM, index_type="hnsw")
    assert len(retriever) == 0
    with pytest.raises(EmptyDatabaseError, match="empty"):
        retriever.search(torch.randn(DIM), k=1)
    retriever.add(fake_embeddings(5), fake_rows(5))
    assert len(retriever) == 5 and retriever.search(fake_embeddings(5)[2]).ids.item() == 2


def test_add_appends_and_new_items_are_found(retriever):
    new = fake_embeddings(3, seed=9)
    retriever.add(torch.from_numpy(new), fake_rows(3, start=300))
    assert len(retriever) == 303 and retriever.embeddings.shape == (303, DIM)
    output = retriever.search(new, k=1)
    assert output.ids[:, 0].tolist() == [300, 301, 302]
    assert output.metadata[2][0]["id"] == "clip-302"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda r: r.search(torch.randn(2, DIM + 1)), "dimension 17"),
        (lambda r: r.search(torch.randn(2, DIM), k=0), "positive integer"),
        (lambda r: r.search(torch.zeros(1, DIM)), "all-zero"),
        (lambda r: r.add(fake_embeddings(2), fake_rows(3)), "2 embeddings but 3 metadata rows"),
        (lambda r: r.add(fake_embeddings(1), [{"id": "x", "melody": ""}]), "lacks caption, source"),
        (lambda r: r.add(torch.randn(2, 3, DIM)), "shape"),
        (lambda r: r.set_search_params(M=8), "cannot be changed at search time"),
    ],
)
def test_bad_input_raises_value_errors(retriever, call, message):
    with pytest.raises(ValueError, match=message):
        call(retriever)


def test_reindex_and_search_params():
    embeds = fake_embeddings(500)
    retriever = MelodyRetriever.from_embeddings(embeds, index_type="flat")
    retriever.reindex("hnsw", M=8, efSearch=16)
    assert retriever.config.index_type == "hnsw" and retriever.config.index_params["M"] == 8
    retriever.set_search_params(efSearch=200)
    assert retriever._index.hnsw.efSearch == 200 and retriever.config.index_params["efSearch"] == 200
    assert retriever.search(embeds[:20], k=1).ids[:, 0].tolist() == list(range(20))


def test_build_from_aligner_and_dataset():
    from datasets import Dataset

    rows = fake_rows(10)
    split = Dataset.from_list([{**row, "audio": b"unused"} for row in rows])
    aligner = StandInAligner()
    retriever = MelodyRetriever.build(aligner, split, index_type="hierarchical", batch_size=4)
    assert aligner.calls == 3 and len(retriever) == 10
    assert retriever.metadata == rows and retriever.config.aligner_name_or_path == "stand-in-aligner"
    query = aligner.embed_melody([rows[6]["melody"]])
    assert retriever.search(query, k=1).metadata[0][0]["id"] == "clip-6"
    with pytest.raises(RetrieverError, match="lacks the column"):
        MelodyRetriever.build(aligner, split.remove_columns("caption"))


@pytest.mark.parametrize("index_type", INDEX_TYPES)
def test_save_load_round_trip(tmp_path, index_type):
    embeds = fake_embeddings(300)
    params = {"flat": {}, "ivf": {"nprobe": 4}, "hnsw": {"efSearch": 32}, "hierarchical": {"nlist": 6}}[index_type]
    retriever = MelodyRetriever.from_embeddings(embeds, fake_rows(300), index_type=index_type, **params)
    retriever.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == [
        "README.md", "config.json", "embeddings.safetensors", "metadata.jsonl.gz",
    ]  # fmt: skip
    loaded = MelodyRetriever.from_pretrained(tmp_path)
    assert loaded._index is None and loaded.config.index_checksum is None  # built at the first search
    assert loaded.config.count == 300 and loaded.config.index_type == index_type
    assert loaded.config.index_params == retriever.config.index_params
    assert loaded.metadata == retriever.metadata
    torch.testing.assert_close(loaded.embeddings, retriever.embeddings, rtol=0, atol=0)
    before, after = retriever.search(embeds[:16], k=5), loaded.search(embeds[:16], k=5)
    assert torch.equal(before.ids, after.ids) and before.metadata == after.metadata


def test_save_load_empty_retriever(tmp_path):
    MelodyRetriever(embedding_dim=DIM, index_type="ivf").save_pretrained(tmp_path)
    assert not (tmp_path / "index.faiss").exists()
    loaded = MelodyRetriever.from_pretrained(tmp_path)
    assert len(loaded) == 0 and loaded.config.embedding_dim == DIM
    with pytest.raises(EmptyDatabaseError):
        loaded.search(torch.randn(DIM))


def test_index_cache_is_used_and_rebuilt_when_missing_or_stale(tmp_path, retriever, monkeypatch, caplog):
    retriever.save_pretrained(tmp_path, write_index=True)
    built = []
    original = MelodyRetriever.reindex
    monkeypatch.setattr(MelodyRetriever, "reindex", lambda self, *a, **kw: built.append(1) or original(self, *a, **kw))
    MelodyRetriever.from_pretrained(tmp_path).search(fake_embeddings(300)[:2], 3)
    assert built == []  # the cached index.faiss was used
    with open(tmp_path / "index.faiss", "r+b") as handle:  # flip a byte: the checksum no longer matches
        handle.seek(200)
        byte = handle.read(1)
        handle.seek(200)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with caplog.at_level(logging.WARNING, logger="mmgen.retrieval.retriever"):
        stale = MelodyRetriever.from_pretrained(tmp_path)
    assert "rebuilding" in caplog.text and stale.index_rebuild_reason
    os.remove(tmp_path / "index.faiss")
    missing = MelodyRetriever.from_pretrained(tmp_path)
    assert built == []  # nothing is built at load time
    query = fake_embeddings(300)[:5]
    assert torch.equal(stale.search(query, 3).ids, missing.search(query, 3).ids)
    assert built == [1, 1]  # each built its index at its first search, once
    assert stale.search(query, 3).ids[:, 0].tolist() == list(range(5)) and built == [1, 1]


def _read_metadata(folder):
    return gzip.decompress((folder / "metadata.jsonl.gz").read_bytes()).decode()


def _write_metadata(folder, text):
    (folder / "metadata.jsonl.gz").write_bytes(gzip.compress(text.encode()))


def _save_first_format(retriever, folder):
    """The folder as the first format wrote it: plain metadata.jsonl and an index.faiss."""
    retriever.save_pretrained(folder, write_index=True)
    (folder / "metadata.jsonl").write_text(_read_metadata(folder))
    os.remove(folder / "metadata.jsonl.gz")


@pytest.mark.parametrize("index_type", ["hnsw", "hierarchical"])
def test_first_format_folders_load_and_search_like_the_rebuilt_index(tmp_path, index_type):
    embeds = fake_embeddings(400)
    retriever = MelodyRetriever.from_embeddings(embeds, fake_rows(400), index_type=index_type)
    _save_first_format(retriever, tmp_path / "old")
    old = MelodyRetriever.from_pretrained(tmp_path / "old")
    assert old._index is not None and old.metadata == retriever.metadata  # the saved index is read
    old.save_pretrained(tmp_path / "new")
    new = MelodyRetriever.from_pretrained(tmp_path / "new")
    assert new.config.checksum == old.config.checksum  # the same content, whichever way the metadata is stored
    queries = fake_embeddings(50, seed=3)
    for a, b in zip(old.search(queries, 10).values(), new.search(queries, 10).values()):
        assert a == b if isinstance(a, list) else torch.equal(a, b)


def test_the_rebuilt_index_is_deterministic(tmp_path):
    import faiss

    retriever = MelodyRetriever.from_embeddings(fake_embeddings(500), fake_rows(500), index_type="hnsw", M=8)
    retriever.save_pretrained(tmp_path)
    first, second = MelodyRetriever.from_pretrained(tmp_path), MelodyRetriever.from_pretrained(tmp_path)
    first.search(fake_embeddings(1)), second.search(fake_embeddings(1))
    serialized = [faiss.serialize_index(r._index).tobytes() for r in (retriever, first, second)]
    assert serialized[0] == serialized[1] == serialized[2]


def test_saving_over_a_first_format_folder_leaves_one_format(tmp_path, retriever):
    _save_first_format(retriever, tmp_path)
    MelodyRetriever.from_pretrained(tmp_path).save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["README.md", "config.json", "embeddings.safetensors", "metadata.jsonl.gz"]
    saved = (tmp_path / "metadata.jsonl.gz").read_bytes()
    retriever.save_pretrained(tmp_path)
    assert (tmp_path / "metadata.jsonl.gz").read_bytes() == saved  # no time stamp: the same rows, the same file


def _edit_json(path, **changes):
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda d: os.remove(d / "config.json"), "config.json is missing"),
        (lambda d: (d / "config.json").write_text("{not json"), "not a readable JSON config"),
        (lambda d: os.remove(d / "embeddings.safetensors"), "embeddings.safetensors is missing"),
        (lambda d: os.truncate(d / "embeddings.safetensors", 1000), "corrupt or truncated"),
        (lambda d: _edit_json(d / "config.json", embedding_dim=DIM * 2), "dimension 16 but config.json says"),
        (lambda d: _edit_json(d / "config.json", count=299), "holds 300 embeddings but config.json says count=299"),
        (lambda d: _edit_json(d / "config.json", index_type="annoy"), "unknown index_type"),
        (lambda d: _write_metadata(d, _read_metadata(d).replace("tune 5", "x")), "do not match the checksum"),
        (lambda d: _write_metadata(d, "\n".join(_read_metadata(d).splitlines()[1:])), "holds 299 rows"),
        (lambda d: _write_metadata(d, _read_metadata(d).replace("}", "", 1)), "line 1: not valid JSON"),
        (lambda d: os.truncate(d / "metadata.jsonl.gz", 100), "metadata.jsonl.gz is corrupt or truncated"),
        (lambda d: os.remove(d / "metadata.jsonl.gz"), "metadata.jsonl.gz is missing"),
    ],
)
def test_corrupt_or_mismatched_folders_raise(tmp_path, retriever, corrupt, message):
    retriever.save_pretrained(tmp_path)
    corrupt(tmp_path)
    with pytest.raises(RetrieverLoadError, match=message):
        MelodyRetriever.from_pretrained(tmp_path)
    assert issubclass(RetrieverLoadError, ValueError)


def test_changed_embeddings_fail_the_checksum(tmp_path, retriever):
    from safetensors.torch import load_file, save_file

    retriever.save_pretrained(tmp_path)
    tensors = load_file(tmp_path / "embeddings.safetensors")
    tensors["embeddings"][0, 0] += 0.01
    save_file(tensors, tmp_path / "embeddings.safetensors")
    with pytest.raises(RetrieverLoadError, match="checksum"):
        MelodyRetriever.from_pretrained(tmp_path)


def test_model_card_is_rendered(tmp_path, retriever):
    retriever.save_pretrained(tmp_path)
    card = (tmp_path / "README.md").read_text()
    assert "Melodies stored: 300" in card and "Index: `flat`" in card and "Sources of the melodies: synth" in card
    assert "{count}" not in card and "{index_type}" not in card


class RetrieverOnlyPipeline(DiffusionPipeline):
    def __init__(self, retriever: MelodyRetriever):
        super().__init__()
        self.register_modules(retriever=retriever)


def test_loads_as_a_diffusers_pipeline_component(tmp_path, retriever):
    RetrieverOnlyPipeline(retriever=retriever).save_pretrained(tmp_path)
    model_index = json.loads((tmp_path / "model_index.json").read_text())
    assert model_index["retriever"] == ["mmgen.retrieval.retriever", "MelodyRetriever"]
    assert (tmp_path / "retriever" / "embeddings.safetensors").is_file()
    pipe = RetrieverOnlyPipeline.from_pretrained(tmp_path)
    assert isinstance(pipe.retriever, MelodyRetriever) and len(pipe.retriever) == 300
    query = fake_embeddings(300)[:4]
    assert torch.equal(pipe.retriever.search(query, 2).ids, retriever.search(query, 2).ids)
    sub = MelodyRetriever.from_pretrained(tmp_path, subfolder="retriever")
    assert sub.metadata == retriever.metadata


def test_push_to_hub_uploads_the_saved_folder(retriever, fake_hub, tmp_path):
    """Only the local half: the folder handed to `HfApi.upload_folder` is complete (no network involved)."""
    assert retriever.push_to_hub("me/melodies") == "https://hub.example/me/melodies/commit/1"
    [upload] = fake_hub
    assert upload["repo_id"] == "me/melodies" and set(upload["kwargs"]) == {"commit_message", "create_pr"}
    assert list(upload["files"]) == ["README.md", "config.json", "embeddings.safetensors", "metadata.jsonl.gz"]
    for name, content in upload["files"].items():
        (tmp_path / name).write_bytes(content)
    assert len(MelodyRetriever.from_pretrained(tmp_path)) == 300
