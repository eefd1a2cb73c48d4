"""Typed, located reading of YAML mappings.

A ``Section`` wraps one mapping of a loaded file and hands out typed values;
any mistake raises a ConfigError with the file, line and dotted key. Unknown
keys are errors too (a typo such as ``trusted_network`` must not be ignored).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .yamlload import ConfigError, LineDict, LineList

T = TypeVar("T")
_MISSING: Any = object()


# Section's methods are named after the types they return (str, int, bool ...), which
# shadows those names inside the class body: annotations there use these aliases.
_Str = str
_Int = int
_Float = float
_Bool = bool
_List = list


class Section:
    def __init__(self, path: _Str | Path, data: Any, prefix: str = "", line: _Int | None = None):
        self.path = Path(path)
        self.prefix = prefix
        if data is None:
            data = LineDict()
            data.lines, data.line = {}, line or 1
        if not isinstance(data, dict):
            raise ConfigError(self.path, line, prefix or "(top)", "must be a mapping of keys")
        self.data: dict[_Str, Any] = data
        self.line = getattr(data, "line", line)
        self._used: set[_Str] = set()

    def key(self, name: _Str) -> _Str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def line_of(self, name: _Str) -> int | None:
        if isinstance(self.data, LineDict):
            return self.data.line_of(name)
        return self.line

    def error(self, name: _Str, problem: _Str) -> ConfigError:
        return ConfigError(self.path, self.line_of(name), self.key(name), problem)

    def has(self, name: _Str) -> _Bool:
        return name in self.data

    def raw(self, name: _Str, default: Any = _MISSING) -> Any:
        self._used.add(name)
        if name not in self.data or self.data[name] is None:
            if default is _MISSING:
                raise ConfigError(self.path, self.line, self.key(name), "is required")
            return default
        return self.data[name]

    def str(self, name: _Str, default: Any = _MISSING) -> _Str:
        value = self.raw(name, default)
        if not isinstance(value, str):
            raise self.error(name, f"must be a string, got {_kind(value)}")
        return value

    def int(self, name: _Str, default: Any = _MISSING, minimum: _Int | None = None,
            maximum: _Int | None = None) -> _Int:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"must be an integer, got {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(name, f"must be at most {maximum}, got {value}")
        return value

    def float(
        self, name: _Str, default: Any = _MISSING, minimum: _Float | None = None,
        maximum: _Float | None = None,
    ) -> _Float:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(name, f"must be a number, got {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(name, f"must be at most {maximum}, got {value}")
        return float(value)

    def bool(self, name: _Str, default: Any = _MISSING) -> _Bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"must be true or false, got {_kind(value)}")
        return value

    def choice(self, name: _Str, choices: Sequence[_Str], default: Any = _MISSING) -> _Str:
        value = self.str(name, default)
        if value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def str_list(self, name: _Str, default: Any = _MISSING) -> tuple[_Str, ...]:
        value = self.raw(name, default)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            raise self.error(name, f"must be a list of strings, got {_kind(value)}")
        for item in value:
            if not isinstance(item, str):
                raise self.error(name, f"must be a list of strings; item {item!r} is not")
        return tuple(value)

    def list(self, name: _Str, default: Any = _MISSING) -> _List[Any]:
        value = self.raw(name, default)
        if not isinstance(value, list | tuple):
            raise self.error(name, f"must be a list, got {_kind(value)}")
        return list(value)

    def networks(self, name: _Str, default: Any = _MISSING) -> tuple[Any, ...]:
        out = []
        for item in self.str_list(name, default):
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise self.error(name, f"{item!r} is not an IP network") from None
        return tuple(out)

    def section(self, name: _Str, required: _Bool = False) -> Section:
        value = self.raw(name, _MISSING if required else None)
        return Section(self.path, value, self.key(name), self.line_of(name))

    def sections(self, name: _Str) -> _List[Section]:
        items = self.list(name, [])
        line = getattr(self.data.get(name), "line", self.line_of(name))
        return [
            Section(self.path, item, f"{self.key(name)}[{i}]", getattr(item, "line", line))
            for i, item in enumerate(items)
        ]

    def parsed(self, name: _Str, parse: Callable[[Any], T], default: Any = _MISSING) -> T:
        value = self.raw(name, default)
        try:
            return parse(value)
        except (TypeError, ValueError) as exc:
            raise self.error(name, str(exc)) from None

    def done(self) -> None:
        """Reject keys nobody asked for: they are typos or unsupported options."""
        unknown = [k for k in self.data if k not in self._used]
        if unknown:
            name = unknown[0]
            raise self.error(name, "unknown key")


def _kind(value: Any) -> _Str:
    if isinstance(value, LineList | list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"
