"""`MelodyRetriever`: a FAISS vector database of melody embeddings (paper section 4.2.1).

The aligner embeds a corpus of melodies; a text or audio query embedded by the same aligner retrieves the closest
melodies (K = 1 for generation), whose embeddings and token strings then guide the diffusion model.

The class is a diffusers `ModelMixin` + `ConfigMixin` (with no trainable weights) so that `DiffusionPipeline`
can load and save it as a component; it reads and writes its own folder format (see `serialization.py`).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput

from .index import (
    INDEX_TYPES,
    IndexParamsError,
    build_index,
    l2_normalize,
    require_faiss,
    resolve_index_params,
    set_search_params,
    single_threaded,
)
from .serialization import (
    EMBEDDINGS_NAME,
    INDEX_NAME,
    LEGACY_METADATA_NAME,
    METADATA_KEYS,
    METADATA_NAME,
    MODEL_CARD_NAME,
    EmptyDatabaseError,
    RetrieverError,
    RetrieverLoadError,
    compress_metadata,
    compute_checksum,
    file_sha256,
    metadata_to_jsonl,
    read_config,
    read_embeddings,
    read_metadata,
    validate_metadata,
)

logger = logging.getLogger(__name__)

MODEL_CARD_TEMPLATE = Path(__file__).resolve().parents[2] / "model_cards" / "melody_retriever.md"
# One lazy index build at a time (the Space answers requests on several threads).
_BUILD_LOCK = threading.Lock()


@dataclass
class RetrievalOutput(BaseOutput):
    """
    Output of [`MelodyRetriever.search`].

    Args:
        ids (`torch.LongTensor` of shape `(batch_size, k)`):
            Row numbers of the retrieved melodies in the database, best first. Never -1.
        scores (`torch.FloatTensor` of shape `(batch_size, k)`):
            Cosine similarities between each query and its retrieved melodies.
        embeddings (`torch.FloatTensor` of shape `(batch_size, k, embedding_dim)`):
            The stored (L2-normalised) melody embeddings of the retrieved rows.
        metadata (`list[list[dict]]`):
            `batch_size` lists of `k` dicts with the keys `id`, `melody` (token string), `caption` and `source`.
    """

    ids: torch.LongTensor
    scores: torch.FloatTensor
    embeddings: torch.FloatTensor
    metadata: list[list[dict]]


class MelodyRetriever(ModelMixin, ConfigMixin):
    r"""
    A melody vector database: L2-normalised melody embeddings, their metadata and a FAISS index over them.

    Build one with [`~MelodyRetriever.build`] (from a `TriModalAligner` and a MusicSet split) or
    [`~MelodyRetriever.from_embeddings`]; query it with [`~MelodyRetriever.search`]; grow it with
    [`~MelodyRetriever.add`]. It saves with `save_pretrained` / `push_to_hub` and loads with `from_pretrained`, on
    its own or as a component of a `DiffusionPipeline`.

    Parameters:
        embedding_dim (`int`, defaults to 512):
            Dimension of the aligner's joint space.
        index_type (`str`, defaults to `"hnsw"`):
            One of `"flat"` (exact), `"ivf"`, `"hnsw"`, `"hierarchical"` (see `mmgen.retrieval.index`).
        index_params (`dict`, *optional*):
            Index parameters (`nlist`, `nprobe`, `M`, `efConstruction`, `efSearch`); defaults per index type.
        count (`int`, defaults to 0):
            Number of stored melodies; written by `save_pretrained` and checked by `from_pretrained`.
        checksum (`str`, *optional*):
            sha256 of the embeddings and metadata; written by `save_pretrained` and checked by `from_pretrained`.
        index_checksum (`str`, *optional*):
            sha256 of the saved `index.faiss`, or `None` when the folder has none (the default: the index is built
            from the embeddings at the first search); a cached index whose hash differs is rebuilt.
        aligner_name_or_path (`str`, *optional*):
            The aligner that made the embeddings (queries must come from the same aligner).
    """

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        embedding_dim: int = 512,
        index_type: str = "hnsw",
        index_params: dict | None = None,
        count: int = 0,
        checksum: str | None = None,
        index_checksum: str | None = None,
        aligner_name_or_path: str | None = None,
    ):
        super().__init__()
        if not isinstance(embedding_dim, int) or embedding_dim < 1:
            raise RetrieverError(f"embedding_dim must be a positive integer, got {embedding_dim!r}")
        self.register_to_config(index_params=resolve_index_params(index_type, index_params))
        self.register_buffer("embeddings", torch.zeros(0, embedding_dim), persistent=False)
        self.metadata: list[dict] = []
        self._index = None

    # ----------------------------------------------------------------------------------------------- construction
    @classmethod
    def from_embeddings(
        cls,
        embeddings: torch.Tensor | np.ndarray,
        metadata: Sequence[dict] | None = None,
        index_type: str = "hnsw",
        aligner_name_or_path: str | None = None,
        **index_params,
    ) -> MelodyRetriever:
        r"""
        Make a retriever from precomputed melody embeddings.

        Args:
            embeddings (`torch.Tensor` or `np.ndarray` of shape `(count, embedding_dim)`):
                Melody embeddings; they are L2-normalised on the way in. `count` may be 0 (an empty database).
            metadata (`list[dict]`, *optional*):
                One dict per embedding with the keys `id`, `melody`, `caption`, `source` (and any further
                JSON-serialisable keys). Defaults to ids `"0"`, `"1"`, ... and empty strings.
            index_type (`str`, defaults to `"hnsw"`): `"flat"`, `"ivf"`, `"hnsw"` or `"hierarchical"`.
            aligner_name_or_path (`str`, *optional*): recorded in the config.
            index_params: `nlist`, `nprobe`, `M`, `efConstruction`, `efSearch` as the index type takes them.
        """
        array = _as_matrix(embeddings, "embeddings")
        retriever = cls(
            embedding_dim=array.shape[1],
            index_type=index_type,
            index_params=index_params,
            aligner_name_or_path=aligner_name_or_path,
        )
        retriever.add(array, metadata)
        return retriever

    @classmethod
    def build(
        cls,
        aligner,
        dataset_split,
        index_type: str = "hnsw",
        batch_size: int = 64,
        **index_params,
    ) -> MelodyRetriever:
        r"""
        Embed every melody of a MusicSet split with the aligner and index them.

        Args:
            aligner (`TriModalAligner`):
                Anything with `embed_melody(list[str]) -> torch.Tensor (B, D)`.
            dataset_split (`datasets.Dataset`):
                A MusicSet split with the columns `id`, `melody`, `caption` and `source`.
            index_type (`str`, defaults to `"hnsw"`): see [`~MelodyRetriever.from_embeddings`].
            batch_size (`int`, defaults to 64): melodies embedded per aligner call.
            index_params: see [`~MelodyRetriever.from_embeddings`].
        """
        if batch_size < 1:
            raise RetrieverError(f"batch_size must be at least 1, got {batch_size}")
        missing = [column for column in METADATA_KEYS if column not in dataset_split.column_names]
        if missing:
            raise RetrieverError(f"the dataset split lacks the column(s) {', '.join(missing)}")
        rows = dataset_split.select_columns(list(METADATA_KEYS))
        chunks, metadata = [], []
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            with torch.no_grad():
                chunks.append(_as_matrix(aligner.embed_melody(list(batch["melody"])), "aligner.embed_melody output"))
            metadata.extend({key: batch[key][i] for key in METADATA_KEYS} for i in range(len(batch["id"])))
            logger.info("embedded %d / %d melodies", len(metadata), len(rows))
        dim = chunks[0].shape[1] if chunks else _aligner_dim(aligner)
        embeddings = np.concatenate(chunks) if chunks else np.zeros((0, dim), dtype=np.float32)
        return cls.from_embeddings(
            embeddings, metadata, index_type=index_type, aligner_name_or_path=_aligner_name(aligner), **index_params
        )

    def add(self, embeddings: torch.Tensor | np.ndarray, metadata: Sequence[dict] | None = None) -> None:
        r"""
        Append melodies to the database (and to its index).

        IVF-based indexes keep their trained clusters; call [`~MelodyRetriever.reindex`] after adding many vectors
        of a different distribution.

        Args:
            embeddings (`torch.Tensor` or `np.ndarray` of shape `(n, embedding_dim)` or `(embedding_dim,)`)
            metadata (`list[dict]`, *optional*): `n` rows, see [`~MelodyRetriever.from_embeddings`].
        """
        array = _as_matrix(embeddings, "embeddings")
        self._check_dim(array, "embeddings")
        if len(array) == 0:
            return
        array = l2_normalize(array, "embeddings")
        rows = validate_metadata(metadata, len(array), start=len(self))
        new = torch.from_numpy(array).to(device=self.embeddings.device, dtype=self.embeddings.dtype)
        self.embeddings = torch.cat([self.embeddings, new])
        self.metadata.extend(rows)
        if self._index is None:
            self.reindex()
        else:
            self._index.add(array)

    def reindex(self, index_type: str | None = None, **index_params) -> None:
        r"""
        Rebuild the FAISS index, optionally of another type or with other parameters.

        Args:
            index_type (`str`, *optional*): keep the current type when not given.
            index_params: parameters of the new index; with `index_type` unchanged and none given, the current ones.
        """
        if index_type is None or (index_type == self.config.index_type and not index_params):
            index_type = self.config.index_type
            index_params = index_params or {k: v for k, v in self.config.index_params.items() if v is not None}
        if len(self) == 0:
            self.register_to_config(index_type=index_type, index_params=resolve_index_params(index_type, index_params))
            self._index = None
            return
        params = resolve_index_params(index_type, index_params, n=len(self))
        with single_threaded():  # the same embeddings and parameters always give the same index
            self._index = build_index(self._numpy_embeddings(), index_type, params)
        self.register_to_config(index_type=index_type, index_params=params)

    def set_search_params(self, **params) -> None:
        """Change the search-time parameters (`nprobe`, `efSearch`) without rebuilding the index."""
        unknown = sorted(set(params) - {"nprobe", "efSearch"})
        if unknown:
            raise IndexParamsError(f"{', '.join(unknown)} cannot be changed at search time; use reindex()")
        merged = {**self.config.index_params, **params}
        merged = resolve_index_params(self.config.index_type, {k: v for k, v in merged.items() if v is not None})
        self.register_to_config(index_params={**self.config.index_params, **params})
        if self._index is not None:
            set_search_params(self._index, self.config.index_type, merged)

    def to(self, *args, **kwargs) -> MelodyRetriever:
        """`nn.Module.to` for the device only: the embeddings stay float32 whatever dtype is asked, on purpose (they
        are the FAISS index's vectors and the retrieved `r`), so `pipe.to(dtype=torch.float16)` leaves them float32."""
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        return super().to(device) if device is not None else self

    def __len__(self) -> int:
        return len(self.metadata)

    # ------------------------------------------------------------------------------------------------------ search
    @torch.no_grad()
    def search(self, query_embeds: torch.Tensor | np.ndarray, k: int = 1) -> RetrievalOutput:
        r"""
        Retrieve the `k` melodies closest (by cosine similarity) to each query.

        Args:
            query_embeds (`torch.Tensor` or `np.ndarray` of shape `(batch_size, embedding_dim)` or `(embedding_dim,)`):
                Text, audio or melody embeddings from the same aligner; L2-normalised here before the search.
            k (`int`, defaults to 1):
                Results per query. When `k` exceeds the database size it is clamped to the size, so the output has
                `min(k, len(self))` columns. Where an approximate index finds fewer than `k` results (an IVF probe
                that visits small clusters), the missing ones are filled by an exact search, so every id is valid.

        Returns:
            [`RetrievalOutput`]: `ids` and `scores` `(batch_size, k)`, `embeddings` `(batch_size, k, embedding_dim)`
            (on the device of the stored embeddings; ids and scores on the CPU) and `metadata`.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise RetrieverError(f"k must be a positive integer, got {k!r}")
        if len(self) == 0:
            raise EmptyDatabaseError("the melody database is empty: add embeddings before searching")
        queries = _as_matrix(query_embeds, "query_embeds")
        self._check_dim(queries, "query_embeds")
        queries = l2_normalize(queries, "query_embeds")
        k = int(min(k, len(self)))
        if len(queries) == 0:
            scores, ids = np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
        else:
            self._ensure_index()
            scores, ids = self._index.search(queries, k)
            incomplete = np.flatnonzero((ids < 0).any(axis=1))
            if len(incomplete):
                scores[incomplete], ids[incomplete] = self._exact_search(queries[incomplete], k)
        ids_t = torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))
        embeddings = self.embeddings[ids_t.to(self.embeddings.device)].float()
        metadata = [[dict(self.metadata[i]) for i in row] for row in ids.tolist()]
        return RetrievalOutput(
            ids=ids_t, scores=torch.from_numpy(np.ascontiguousarray(scores)), embeddings=embeddings, metadata=metadata
        )

    def _ensure_index(self) -> None:
        """Build the index at the first search when the folder loaded had none saved."""
        if self._index is None and len(self):
            with _BUILD_LOCK:
                if self._index is None:
                    self.reindex()

    def _exact_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        similarity = torch.from_numpy(queries) @ torch.from_numpy(self._numpy_embeddings()).T
        scores, ids = similarity.topk(k, dim=1)
        return scores.numpy(), ids.numpy()

    # ------------------------------------------------------------------------------------------------ save / load
    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        write_index: bool = False,
        push_to_hub: bool = False,
        **kwargs,
    ) -> None:
        r"""
        Write the retriever to a folder (config.json, embeddings.safetensors, metadata.jsonl.gz, README.md).

        Args:
            save_directory (`str` or `os.PathLike`): created if missing.
            write_index (`bool`, defaults to `False`): also write the FAISS index as `index.faiss`. Without it the
                folder is smaller (the index is as large as the embeddings) and the loaded retriever builds the
                index from the embeddings at its first search, on one thread, so the same folder always gives the
                same index: the one `reindex()` makes, which for a database grown by several `add` calls may
                differ from the in-memory one (approximate indexes depend on how vectors were added in batches).
                Write it to keep that exact index, or to skip the build on large databases.
            push_to_hub (`bool`, defaults to `False`): then upload the folder with [`~MelodyRetriever.push_to_hub`];
                `repo_id`, `token`, `private` and `commit_message` are taken from `kwargs`.
            kwargs: other arguments diffusers passes to components (`safe_serialization`, `variant`, ...) are ignored:
                the format is always safetensors + JSON, and the files never carry a variant name
                (`pipe.save_pretrained(path, variant="fp16")` writes the retriever's usual files, which
                `from_pretrained(path, variant="fp16")` reads back): the embeddings are float32 in every variant.
        """
        if os.path.isfile(save_directory):
            raise RetrieverError(f"save_directory {os.fspath(save_directory)!r} is a file, not a folder")
        os.makedirs(save_directory, exist_ok=True)
        embeddings = torch.from_numpy(self._numpy_embeddings())
        metadata_bytes = metadata_to_jsonl(self.metadata)

        from safetensors.torch import save_file

        save_file({"embeddings": embeddings}, os.path.join(save_directory, EMBEDDINGS_NAME), metadata={"format": "pt"})
        with open(os.path.join(save_directory, METADATA_NAME), "wb") as handle:
            handle.write(compress_metadata(metadata_bytes))
        legacy_metadata = os.path.join(save_directory, LEGACY_METADATA_NAME)
        if os.path.exists(legacy_metadata):
            os.remove(legacy_metadata)  # the first format's file; loading would otherwise have two to choose from
        index_path = os.path.join(save_directory, INDEX_NAME)
        index_checksum = None
        if write_index:
            self._ensure_index()
        if write_index and self._index is not None:
            require_faiss().write_index(self._index, index_path)
            index_checksum = file_sha256(index_path)
        elif os.path.exists(index_path):
            os.remove(index_path)  # a stale cache from an earlier save
        self.register_to_config(
            count=len(self), checksum=compute_checksum(embeddings, metadata_bytes), index_checksum=index_checksum
        )
        self.save_config(save_directory)
        with open(os.path.join(save_directory, MODEL_CARD_NAME), "w", encoding="utf-8") as handle:
            handle.write(self.model_card())
        if push_to_hub:
            self._upload_folder_to_hub(save_directory, **kwargs)

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        subfolder: str | None = None,
        rebuild_index: bool = False,
        cache_dir: str | None = None,
        local_files_only: bool | None = None,
        token: str | None = None,
        revision: str | None = None,
        **kwargs,
    ) -> MelodyRetriever:
        r"""
        Load a retriever saved with [`~MelodyRetriever.save_pretrained`], from a folder or a Hub repository.

        The embeddings and metadata are checked against the config (dimension, count, checksum). A saved
        `index.faiss` is used only when its sha256 matches the config; otherwise (or when the folder has none, the
        default) the index is built from the embeddings at the first search. Folders of the first format (plain
        `metadata.jsonl`, `index.faiss`) load too.

        Args:
            pretrained_model_name_or_path (`str` or `os.PathLike`): a local folder or a Hub repo id.
            subfolder (`str`, *optional*): e.g. `"retriever"` inside a pipeline folder.
            rebuild_index (`bool`, defaults to `False`): ignore `index.faiss`; the index is built at the first search.
            cache_dir, local_files_only, token, revision: Hub download options.
            kwargs: loading options diffusers passes to every component (`torch_dtype`, `variant`, `device_map`,
                ...) are ignored: embeddings stay float32 for FAISS, and the folder has no variant files.

        Raises:
            `RetrieverLoadError`: a file is missing, truncated or corrupt, or disagrees with the config.
        """
        folder = os.fspath(pretrained_model_name_or_path)
        if not os.path.isdir(folder):
            folder = _download(folder, subfolder, cache_dir, local_files_only, token, revision)
        elif subfolder:
            folder = os.path.join(folder, subfolder)
        config = read_config(folder)
        dim, count = int(config["embedding_dim"]), int(config["count"])
        embeddings = read_embeddings(folder, dim, count)
        metadata, metadata_bytes = read_metadata(folder, count)
        if compute_checksum(embeddings, metadata_bytes) != config["checksum"]:
            raise RetrieverLoadError(
                f"{folder}: the embeddings and metadata do not match the checksum in config.json (edited or corrupt)"
            )
        init_kwargs = {key: config[key] for key in _init_keys(cls) if key in config}
        try:
            retriever = cls(**init_kwargs)
        except (IndexParamsError, RetrieverError, TypeError) as err:
            raise RetrieverLoadError(f"{folder}/config.json: {err}") from err
        retriever.embeddings = embeddings
        retriever.metadata = metadata
        if count and not rebuild_index:
            retriever._load_cached_index(folder, config.get("index_checksum"))
        return retriever

    def _load_cached_index(self, folder: str, expected_sha256: str | None) -> bool:
        path = os.path.join(folder, INDEX_NAME)
        if not os.path.isfile(path):
            return False  # the usual case: the index is built at the first search
        reason = None
        if expected_sha256 is None or file_sha256(path) != expected_sha256:
            reason = f"{path} does not match config.json (stale or corrupt); rebuilding the index from the embeddings"
        else:
            faiss = require_faiss()
            try:
                index = faiss.read_index(path)
            except RuntimeError as err:
                reason = f"could not read {path} ({err}); rebuilding the index"
            else:
                if index.ntotal != len(self) or index.d != self.config.embedding_dim:
                    reason = (f"{path} holds {index.ntotal} x {index.d} vectors, not {len(self)} x "
                              f"{self.config.embedding_dim}; rebuilding")  # fmt: skip
        if reason is not None:
            logger.warning(reason)
            self.index_rebuild_reason = reason  # the pipeline repeats it once its progress bar is done
            return False
        set_search_params(index, self.config.index_type, self.config.index_params)
        self._index = index
        return True

    def push_to_hub(
        self,
        repo_id: str,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | None = None,
        create_pr: bool = False,
        **kwargs,
    ) -> str:
        r"""
        Upload the retriever folder (exactly what `save_pretrained` writes, model card included) to the Hub.

        Returns:
            `str`: the URL of the commit.
        """
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(folder)
            return self._upload_folder_to_hub(
                folder, repo_id=repo_id, commit_message=commit_message, private=private, token=token,
                create_pr=create_pr,
            )  # fmt: skip

    @staticmethod
    def _upload_folder_to_hub(folder, repo_id=None, commit_message=None, private=None, token=None, create_pr=False,
                              **_ignored):  # fmt: skip
        if not repo_id:
            raise RetrieverError("push_to_hub needs a repo_id")
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            commit_message=commit_message or "Upload MelodyRetriever",
            create_pr=create_pr,
        )
        return str(getattr(commit, "commit_url", commit))

    def model_card(self) -> str:
        """The README.md written beside the retriever, rendered from `model_cards/melody_retriever.md`."""
        sources = sorted({str(row.get("source", "")) for row in self.metadata} - {""})
        values = {
            "count": f"{len(self):,}",
            "embedding_dim": self.config.embedding_dim,
            "index_type": self.config.index_type,
            "index_params": json.dumps(
                {k: v for k, v in self.config.index_params.items() if v is not None}, sort_keys=True
            ),
            "aligner": self.config.aligner_name_or_path or "unknown",
            "sources": ", ".join(sources[:20]) + (" ..." if len(sources) > 20 else "") if sources else "unknown",
        }
        if MODEL_CARD_TEMPLATE.is_file():
            template = MODEL_CARD_TEMPLATE.read_text(encoding="utf-8")
        else:  # installed without the repository's model_cards/ folder
            template = "# MelodyRetriever\n\n{count} melody embeddings ({embedding_dim}-d), {index_type} index.\n"
        for key, value in values.items():
            template = template.replace("{" + key + "}", str(value))
        return template

    # -------------------------------------------------------------------------------------------------- helpers
    def _numpy_embeddings(self) -> np.ndarray:
        return np.ascontiguousarray(self.embeddings.detach().cpu().float().numpy())

    def _check_dim(self, array: np.ndarray, name: str) -> None:
        if array.shape[1] != self.config.embedding_dim:
            raise RetrieverError(
                f"{name} have dimension {array.shape[1]}, but the retriever holds "
                f"{self.config.embedding_dim}-dimensional vectors"
            )


def _as_matrix(values: Any, name: str) -> np.ndarray:
    """A torch tensor / numpy array / nested list of shape `(n, dim)` or `(dim,)` as a float32 `(n, dim)` array."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().float().numpy()
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise RetrieverError(f"{name} must have shape (n, dim) or (dim,), got {tuple(array.shape)}")
    return array


def _init_keys(cls) -> list[str]:
    import inspect

    return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]


def _aligner_name(aligner) -> str | None:
    name = getattr(aligner, "name_or_path", None) or getattr(getattr(aligner, "config", None), "_name_or_path", None)
    return str(name) if name else None


def _aligner_dim(aligner) -> int:
    dim = getattr(getattr(aligner, "config", None), "projection_dim", None)
    if dim is None:
        raise RetrieverError("the dataset split is empty and the aligner has no config.projection_dim")
    return int(dim)


def _download(repo_id, subfolder, cache_dir, local_files_only, token, revision) -> str:
    from huggingface_hub import snapshot_download

    if not isinstance(repo_id, str) or repo_id.count("/") > 1 or os.path.exists(repo_id):
        raise RetrieverLoadError(f"{repo_id!r} is neither a retriever folder nor a Hub repo id")
    patterns = ["config.json", EMBEDDINGS_NAME, METADATA_NAME, LEGACY_METADATA_NAME, INDEX_NAME, MODEL_CARD_NAME]
    if subfolder:
        patterns = [f"{subfolder}/{pattern}" for pattern in patterns]
    try:
        folder = snapshot_download(
            repo_id, revision=revision, cache_dir=cache_dir, local_files_only=bool(local_files_only), token=token,
            allow_patterns=patterns,
        )  # fmt: skip
    except Exception as err:  # huggingface_hub raises many error types (offline, not found, gated)
        raise RetrieverLoadError(f"could not find or download the retriever {repo_id!r}: {err}") from err
    return os.path.join(folder, subfolder) if subfolder else folder


__all__ = ["INDEX_TYPES", "MelodyRetriever", "RetrievalOutput"]
