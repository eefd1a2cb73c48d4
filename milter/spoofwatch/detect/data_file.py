"""Reading a detection data file: the bundled one or the operator's replacement.

The threat patterns and the threat concepts are YAML data files shipped in
``spoofwatch/data/`` that the configuration may replace; both are read the same way, and a
file that cannot be read or parsed is refused with its name and the reason.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml


def read_data_file(bundled: str, path: str | Path | None,
                   error: type[ValueError]) -> tuple[str, Any]:
    """(the file's name for messages, its parsed YAML): ``path`` if given, else the bundled
    file ``spoofwatch/data/<bundled>``. Raises ``error`` when it cannot be read or parsed."""
    if path is None:
        where = f"spoofwatch/data/{bundled}"
        text = resources.files("spoofwatch.data").joinpath(bundled).read_text("utf-8")
    else:
        where = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise error(f"{where}: cannot read: {exc}") from None
    try:
        return where, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{where}: invalid YAML: {exc}") from None
