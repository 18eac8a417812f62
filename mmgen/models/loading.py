"""Checks around `MMGenPipeline.from_pretrained` on a local folder: a pipeline loads completely or fails naming the
file, component and value at fault (diffusers and transformers otherwise give a bare `JSONDecodeError`, a torch
`TypeError` from deep inside a layer, or only a warning and random weights for a missing tensor)."""

from __future__ import annotations

import glob
import importlib
import inspect
import json
import os
import re

import torch

JSON_FILES = ("config.json", "scheduler_config.json", "tokenizer_config.json", "vocab.json")


def check_config_files(folder: str) -> None:
    """`ValueError` naming the file, line and column of the first JSON file of the pipeline that does not parse."""
    paths = [os.path.join(folder, "model_index.json")]
    paths += [p for name in JSON_FILES for p in glob.glob(os.path.join(folder, "*", name))]
    for path in paths:
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                json.load(f)
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from err


def _component_class(library: str | None, class_name: str | None):
    if not library or not class_name:
        return None
    try:
        return getattr(importlib.import_module(library), class_name)
    except (ImportError, AttributeError):
        return None


def _type_problem(default, value) -> str | None:
    """What is wrong with `value` for a parameter whose default is `default` (None when nothing is clearly wrong).
    Lenient on purpose: it only runs after a load failed, to name the likely culprit."""
    if default is None or value is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "expected true or false"
    if isinstance(default, (int, float)):
        if isinstance(value, (int, float, list, tuple)) and not isinstance(value, bool):
            return None  # int/float interchange; several sizes may also be per-block lists
        return "expected a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "expected a string"
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "expected a list"
        kinds = {type(d) for d in default if d is not None}
        if kinds <= {int, float} and any(isinstance(v, (str, bool, dict, list)) for v in value):
            return "expected a list of numbers"
    return None


def diagnose_config_types(folder: str) -> str | None:
    """After a failed load: the first config value whose type contradicts its parameter's default, as
    `"<file>: `key` = value (expected ...)"`, or None."""
    try:
        with open(os.path.join(folder, "model_index.json"), encoding="utf-8") as f:
            index = json.load(f)
    except (OSError, ValueError):
        return None
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or len(spec) != 2:
            continue
        cls = _component_class(*spec)
        if cls is None:
            continue
        config_cls = getattr(cls, "config_class", None) or cls  # transformers models keep defaults in their config
        for file_name in ("config.json", "scheduler_config.json"):
            path = os.path.join(folder, name, file_name)
            if not os.path.isfile(path):
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    config = json.load(f)
                defaults = {k: p.default for k, p in inspect.signature(config_cls.__init__).parameters.items()
                            if p.default is not inspect.Parameter.empty}  # fmt: skip
            except (OSError, ValueError, TypeError):
                continue
            for key, value in config.items():
                if key in defaults and (problem := _type_problem(defaults[key], value)):
                    return f"{path}: `{key}` = {json.dumps(value)[:80]} ({problem}, as its default {defaults[key]!r})"
    return None


def check_complete_weights(pipe, folder: str) -> None:
    """`ValueError` naming the component and the tensors its weight files lack.

    transformers fills a missing tensor with random values and only warns ("you should probably TRAIN"), so a
    pipeline folder with a truncated or hand-edited `model.safetensors` would generate garbage or NaN. Keys a model
    declares it does not save (`_keys_to_ignore_on_load_missing`: the aligner's frozen text encoder, re-read from
    its own folder) are not required. Every `*.safetensors` file of a component counts (variants included)."""
    from safetensors import safe_open

    for name, component in pipe.components.items():
        files = glob.glob(os.path.join(folder, name, "*.safetensors"))
        if not isinstance(component, torch.nn.Module) or not files:
            continue
        saved = set()
        for path in files:
            with safe_open(path, "pt") as f:
                saved |= set(f.keys())
        ignored = [re.compile(p) for p in getattr(component, "_keys_to_ignore_on_load_missing", None) or []]
        missing = sorted(k for k in component.state_dict() if k not in saved and not any(p.search(k) for p in ignored))
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise ValueError(
                f"{os.path.join(folder, name)}: the weight files lack {len(missing)} tensor(s) of `{name}` "
                f"({type(component).__name__}): {shown}. The folder is incomplete or damaged; save or download it "
                "again."
            )
