"""Loading a script or bench file by path (its directory must not go on sys.path)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_by_path(path: Path, name: str) -> ModuleType:
    """The module in ``path``, registered under ``name`` (dataclasses look their module
    up by name in sys.modules)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
