"""Diffusers pipelines of MMGen."""

from .pipeline_mmgen import MMGenPipeline, MMGenPipelineOutput

__all__ = ["MMGenPipeline", "MMGenPipelineOutput"]
