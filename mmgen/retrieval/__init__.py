"""Melody retrieval (paper section 4.2.1): a FAISS melody database and the intersection rate (eq. 8)."""

from .index import INDEX_PARAM_DEFAULTS, INDEX_TYPES, IndexParamsError, auto_nlist, build_index
from .retriever import MelodyRetriever, RetrievalOutput
from .serialization import EmptyDatabaseError, RetrieverError, RetrieverLoadError

__all__ = [
    "INDEX_PARAM_DEFAULTS",
    "INDEX_TYPES",
    "EmptyDatabaseError",
    "IndexParamsError",
    "MelodyRetriever",
    "RetrievalOutput",
    "RetrieverError",
    "RetrieverLoadError",
    "auto_nlist",
    "build_index",
]
