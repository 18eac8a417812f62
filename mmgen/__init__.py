"""MMGen: melody-guided music generation.

Heavy submodules (torch models, Basic Pitch, FAISS) are imported lazily on first attribute access, so that
`import mmgen` stays fast and `python -m mmgen --help` does not load models.
"""

from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "AudioError": "mmgen.audio",
    "load_audio": "mmgen.audio",
    "log_mel_spectrogram": "mmgen.audio",
    "MelodyError": "mmgen.melody",
    "MelodyTokenizer": "mmgen.melody",
    "Note": "mmgen.melody",
    "read_midi": "mmgen.melody",
    "extract_notes": "mmgen.melody.transcribe",
    "MMGenPipeline": "pipelines.pipeline_mmgen",
    "MMGenPipelineOutput": "pipelines.pipeline_mmgen",
    "TriModalAligner": "mmgen.models.aligner",
    "TriModalAlignerConfig": "mmgen.models.aligner",
    "MelodyRetriever": "mmgen.retrieval",
}


__getattr__, __dir__ = lazy_exports(globals(), _LAZY)
