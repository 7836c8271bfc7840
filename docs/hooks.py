"""mkdocs hook: docstrings in this code base write arrays as `[layer][choice]`, which markdown
reads as a reference link; drop autorefs' "target not found" warning for those (it comes
from a .py file), so that `mkdocs build --strict` still fails on every other warning."""

from __future__ import annotations

import logging
import re
from typing import Any

_DOCSTRING_REF = re.compile(r"from \S+\.py:\d+: .*Could not find cross-reference target")


class _DocstringIndexNotation(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _DOCSTRING_REF.search(record.getMessage())


def on_config(config: Any) -> Any:
    logger = logging.getLogger("mkdocs.plugins.mkdocs_autorefs._internal.plugin")
    if not any(isinstance(f, _DocstringIndexNotation) for f in logger.filters):
        logger.addFilter(_DocstringIndexNotation())
    return config
