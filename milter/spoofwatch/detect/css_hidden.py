"""Whether an HTML element's text can be seen: inline styles and the ``hidden`` attribute.

Mail clients drop most ``<style>`` blocks and honour inline styles, so inline styles are what
hide text in mail. An element is hidden when it or an ancestor has the ``hidden`` attribute,
``display:none``, ``visibility:hidden|collapse``, an opacity of at most 0.05, a font size
too small to read (under 3px, 2.5pt, 0.2em/rem, 20 %), zero height or width with
``overflow:hidden``, ``color:transparent``, or a text colour equal to a background colour
declared on it or an ancestor (a background image makes the background unknown: then no
colour hides). An undeclared background is not assumed white: white text on a background we
cannot see (an image, a class rule) must still be read, or the rule would hide visible
threats from us.

No regular expressions: declarations are split on ``;`` and ``:`` (linear, bounded by the
attribute's length).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Look", "element_look", "style_hides"]

_UNKNOWN = "?"  # a background we cannot tell (an image)
_NAMED = {"white": "#ffffff", "black": "#000000", "red": "#ff0000", "lime": "#00ff00",
          "blue": "#0000ff", "yellow": "#ffff00", "gray": "#808080", "grey": "#808080",
          "silver": "#c0c0c0", "navy": "#000080", "green": "#008000"}
_HEX = frozenset("0123456789abcdef")
# font sizes below these are unreadable (per unit)
_TINY_FONT = {"px": 3.0, "pt": 2.5, "em": 0.2, "rem": 0.2, "%": 20.0, "": 3.0}


@dataclass(frozen=True)
class Look:
    hidden: bool = False
    color: str | None = None  # normalized text colour, inherited
    background: str | None = None  # normalized background colour, inherited


def _color(value: str) -> str | None:
    """``#rrggbb`` for the colour forms mail uses (names, #rgb, #rrggbb, rgb()); else None."""
    value = value.strip().lower()
    if value in _NAMED:
        return _NAMED[value]
    if value.startswith("#") and set(value[1:]) <= _HEX and len(value) in (4, 7):
        digits = value[1:]
        return "#" + ("".join(c * 2 for c in digits) if len(digits) == 3 else digits)
    if value.startswith(("rgb(", "rgba(")) and value.endswith(")"):
        parts = [p.strip() for p in value[value.index("(") + 1:-1].split(",")]
        try:
            numbers = [int(float(p)) for p in parts[:3]]
        except ValueError:
            return None
        if len(parts) == 4 and _number(parts[3]) == 0:
            return "transparent"
        if len(numbers) == 3 and all(0 <= n <= 255 for n in numbers):
            return "#" + "".join(f"{n:02x}" for n in numbers)
    if value == "transparent":
        return "transparent"
    return None


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _length(value: str) -> tuple[float, str] | None:
    value = value.strip().lower()
    unit = value.lstrip("+-.0123456789")
    number = _number(value[: len(value) - len(unit)])
    return None if number is None else (number, unit)


def _declarations(style: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in style[:8192].split(";"):
        name, colon, value = item.partition(":")
        if colon:
            value = value.replace("!important", "").strip().lower()
            found[name.strip().lower()] = value
    return found


def _tiny_font(value: str) -> bool:
    length = _length(value)
    if length is None:
        return False
    number, unit = length
    limit = _TINY_FONT.get(unit)
    return limit is not None and number < limit


def _zero(value: str | None) -> bool:
    length = _length(value) if value else None
    return length is not None and length[0] == 0


def _hides(decl: dict[str, str]) -> bool:
    if decl.get("display") == "none" or decl.get("visibility") in ("hidden", "collapse"):
        return True
    opacity = _length(decl.get("opacity", ""))
    if opacity is not None and opacity[0] <= (5.0 if opacity[1] == "%" else 0.05):
        return True
    if "font-size" in decl and _tiny_font(decl["font-size"]):
        return True
    clipped = decl.get("overflow") == "hidden"
    return clipped and any(_zero(decl.get(k)) for k in ("max-height", "height", "max-width",
                                                         "width"))


def style_hides(style: str) -> bool:
    """Whether the declarations ``style`` (``a: b; c: d``) hide what they apply to."""
    decl = _declarations(style)
    return _hides(decl) or _color(decl.get("color", "")) == "transparent"


def _background(decl: dict[str, str], attrs: dict[str, str]) -> str | None:
    if "url(" in decl.get("background", "") or "url(" in decl.get("background-image", ""):
        return _UNKNOWN
    for value in (decl.get("background-color"), decl.get("background"), attrs.get("bgcolor")):
        if value:
            return _color(value.split()[0]) or _UNKNOWN
    return None


def element_look(parent: Look, attrs: list[tuple[str, str | None]],
                 styles_overridable: bool = False) -> Look:
    """The look of an element with ``attrs`` inside an element that looks like ``parent``.

    ``styles_overridable``: the document has a ``<style>`` block with ``!important`` rules,
    which a client may apply over inline styles to an element with a class or id; then such
    an element's inline style is not trusted to hide it (text hidden that way is read).
    """
    if parent.hidden:
        return parent
    named = {name: value or "" for name, value in attrs}
    if "hidden" in named:
        return replace(parent, hidden=True)
    decl = _declarations(named.get("style", ""))
    trusted = not (styles_overridable and ("class" in named or "id" in named))
    if trusted and _hides(decl):
        return replace(parent, hidden=True)
    background = _background(decl, named)
    if background is not None:
        parent = replace(parent, background=background)
    color_value = decl.get("color") or named.get("color")
    if color_value:
        parent = replace(parent, color=_color(color_value) or _UNKNOWN)
    color, back = parent.color, parent.background
    invisible = color == "transparent" or (
        color is not None and color != _UNKNOWN and color == back)
    return replace(parent, hidden=trusted and invisible)
