"""The app layer: what the Space (`app.py`) and the `generate` CLI do, above the core package and the pipeline.

- `mmgen.app.defaults`: default settings and the bounds every generation setting is checked against (derived from
  `mmgen.limits`); imports nothing heavy, so the CLI reads its flags' defaults from here at start-up.
- `mmgen.app.logic`: the lazily loaded pipeline, generation, melody inspection and the user's melody, without any UI.

The core package (`mmgen.audio`, `mmgen.melody`, `mmgen.models`, ...) never imports this package; only this package
imports `pipelines`.
"""
