"""Diffusers pipelines of MMGen."""
