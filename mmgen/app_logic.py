"""Moved to `mmgen.app.logic` (the app layer, `mmgen.app`). This name stays an alias of that module, the same module
object, for code that still imports `mmgen.app_logic`; new code imports `mmgen.app.logic` (or `mmgen.app.defaults`
for the settings' defaults and bounds)."""

import sys

from .app import logic

sys.modules[__name__] = logic
