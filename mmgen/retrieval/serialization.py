"""On-disk format of a `MelodyRetriever` folder, and the checks made when reading one.

```
config.json              the retriever's config (embedding_dim, index_type, index_params, count, checksums)
embeddings.safetensors   one float32 tensor "embeddings" of shape (count, embedding_dim), L2-normalised
metadata.jsonl.gz        gzip of count lines, one JSON object per stored melody: id, melody, caption, source (+ extras)
index.faiss              optional FAISS index (a cache, written on request: the index is rebuilt from the embeddings
                         when it is missing or stale)
README.md                model card
```

Folders of the first format (plain `metadata.jsonl`, always an `index.faiss`) still load. Nothing is pickled.
`checksum` is the sha256 of the raw float32 bytes of the embeddings followed by the uncompressed JSON Lines bytes
of the metadata, so it names the content whichever way the metadata is stored; `index_checksum` is the sha256 of
`index.faiss`, or null when the folder has none.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib

import numpy as np
import torch

EMBEDDINGS_NAME = "embeddings.safetensors"
METADATA_NAME = "metadata.jsonl.gz"
LEGACY_METADATA_NAME = "metadata.jsonl"  # the first format: plain JSON Lines
INDEX_NAME = "index.faiss"
MODEL_CARD_NAME = "README.md"
METADATA_KEYS = ("id", "melody", "caption", "source")


class RetrieverError(ValueError):
    """Raised for a retriever that cannot answer: empty database, queries of the wrong dimension, bad `k`."""


class EmptyDatabaseError(RetrieverError):
    """Raised when searching a retriever that holds no melodies."""


class RetrieverLoadError(RetrieverError):
    """Raised for a retriever folder that is incomplete, corrupt, or inconsistent with its config."""


def metadata_to_jsonl(metadata: list[dict]) -> bytes:
    """Serialise metadata rows to JSON Lines bytes (keys sorted, UTF-8), the exact bytes that are checksummed."""
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in metadata).encode("utf-8")


def compress_metadata(metadata_bytes: bytes) -> bytes:
    """gzip of the JSON Lines bytes, with no time stamp or file name so that the same rows give the same file."""
    return gzip.compress(metadata_bytes, compresslevel=6, mtime=0)


def compute_checksum(embeddings: np.ndarray | torch.Tensor, metadata_bytes: bytes) -> str:
    """sha256 over the little-endian float32 bytes of `embeddings` `(count, dim)` and the metadata bytes."""
    if isinstance(embeddings, torch.Tensor):
        embeddings = embeddings.detach().cpu().float().numpy()
    array = np.ascontiguousarray(embeddings, dtype="<f4")
    digest = hashlib.sha256()
    digest.update(f"{array.shape[0]}x{array.shape[1]}\n".encode())
    digest.update(array.reshape(-1).view(np.uint8).data)
    digest.update(metadata_bytes)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike, chunk_size: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def validate_metadata(metadata: list[dict] | None, count: int, start: int = 0) -> list[dict]:
    """Check (or make) one metadata row per embedding.

    Args:
        metadata (`list[dict]`, *optional*): rows with at least the keys `METADATA_KEYS` (string values) and any
            further JSON-serialisable keys. `None` makes rows with `id` = the row number and empty strings.
        count (`int`): the number of embeddings the rows describe.
        start (`int`): row number of the first row (for the default ids when appending).

    Returns:
        `list[dict]`: shallow copies of the rows.
    """
    if metadata is None:
        return [{"id": str(start + i), "melody": "", "caption": "", "source": ""} for i in range(count)]
    metadata = list(metadata)
    if len(metadata) != count:
        raise RetrieverError(f"got {count} embeddings but {len(metadata)} metadata rows")
    rows = []
    for i, row in enumerate(metadata):
        if not isinstance(row, dict):
            raise RetrieverError(f"metadata row {i} must be a dict, got {type(row).__name__}")
        missing = [key for key in METADATA_KEYS if key not in row]
        if missing:
            raise RetrieverError(f"metadata row {i} lacks {', '.join(missing)} (needs {', '.join(METADATA_KEYS)})")
        rows.append(dict(row))
    try:
        metadata_to_jsonl(rows)
    except (TypeError, ValueError) as err:
        raise RetrieverError(f"metadata must be JSON-serialisable: {err}") from err
    return rows


def read_config(folder: str) -> dict:
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        raise RetrieverLoadError(f"{folder!r} is not a MelodyRetriever folder: config.json is missing")
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RetrieverLoadError(f"{path}: not a readable JSON config ({err})") from err
    for key in ("embedding_dim", "count", "checksum"):
        if key not in config:
            raise RetrieverLoadError(f"{path}: config has no {key!r}; was this folder written by MelodyRetriever?")
    return config


def read_embeddings(folder: str, dim: int, count: int) -> torch.Tensor:
    """Read `embeddings.safetensors` and check it holds a float32 `(count, dim)` tensor."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = os.path.join(folder, EMBEDDINGS_NAME)
    if not os.path.isfile(path):
        raise RetrieverLoadError(f"{path} is missing")
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise RetrieverLoadError(f"{path} is corrupt or truncated ({err})") from err
    embeddings = tensors.get("embeddings")
    if embeddings is None:
        raise RetrieverLoadError(f"{path} has no 'embeddings' tensor (found: {', '.join(tensors) or 'none'})")
    if embeddings.dtype != torch.float32 or embeddings.ndim != 2:
        shape = tuple(embeddings.shape)
        raise RetrieverLoadError(f"{path}: expected a float32 matrix, got {embeddings.dtype} of shape {shape}")
    if embeddings.shape[1] != dim:
        raise RetrieverLoadError(
            f"{path}: embeddings have dimension {embeddings.shape[1]} but config.json says embedding_dim={dim}"
        )
    if embeddings.shape[0] != count:
        raise RetrieverLoadError(f"{path}: holds {embeddings.shape[0]} embeddings but config.json says count={count}")
    return embeddings


def read_metadata(folder: str, count: int) -> tuple[list[dict], bytes]:
    """Read `metadata.jsonl.gz` (or a first-format `metadata.jsonl`); returns the rows and the uncompressed bytes
    (for the checksum)."""
    path = os.path.join(folder, METADATA_NAME)
    if not os.path.isfile(path):
        path = os.path.join(folder, LEGACY_METADATA_NAME)
    if not os.path.isfile(path):
        raise RetrieverLoadError(f"{os.path.join(folder, METADATA_NAME)} is missing")
    with open(path, "rb") as handle:
        raw = handle.read()
    if path.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError; a truncated file an EOFError
            raise RetrieverLoadError(f"{path} is corrupt or truncated ({err})") from err
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise RetrieverLoadError(f"{path} is not UTF-8 text ({err})") from err
    if len(lines) != count:
        raise RetrieverLoadError(f"{path}: holds {len(lines)} rows but config.json says count={count}")
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise RetrieverLoadError(f"{path}, line {number}: not valid JSON ({err})") from err
    try:
        rows = validate_metadata(rows, count)
    except RetrieverError as err:
        raise RetrieverLoadError(f"{path}: {err}") from err
    return rows, raw
