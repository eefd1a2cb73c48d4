"""spoofwatch: a milter that authenticates mail and flags spoofed political mail."""

__version__ = "0.1.0"
