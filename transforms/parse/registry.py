"""The input formats loggvern can ingest, by their command-line name.

Every module of this package that defines `SOURCE_FORMATS` (a tuple of SourceFormat)
contributes its formats, so a new parser needs no edit here.
"""

from __future__ import annotations

import importlib
import pkgutil

import transforms.parse as package
from transforms.parse.base import SourceFormat


def _discover() -> dict[str, SourceFormat]:
    found: dict[str, SourceFormat] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for fmt in getattr(module, "SOURCE_FORMATS", ()):
            if fmt.name in found:
                raise RuntimeError(f"two parsers claim the format name {fmt.name!r}")
            found[fmt.name] = fmt
    return found


FORMATS: dict[str, SourceFormat] = _discover()


class UnknownFormatError(ValueError):
    pass


def source_format(name: str) -> SourceFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownFormatError(
            f"unknown format {name!r}; supported: {', '.join(sorted(FORMATS))}"
        ) from None
