"""The input formats loggvern can ingest, by their command-line name."""

from __future__ import annotations

from transforms.parse.base import SourceFormat
from transforms.parse.iptables import IPTABLES
from transforms.parse.o365_dlp import O365_DLP
from transforms.parse.sshd import SSHD

FORMATS: dict[str, SourceFormat] = {f.name: f for f in (IPTABLES, SSHD, O365_DLP)}


class UnknownFormatError(ValueError):
    pass


def source_format(name: str) -> SourceFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownFormatError(
            f"unknown format {name!r}; supported: {', '.join(sorted(FORMATS))}"
        ) from None
