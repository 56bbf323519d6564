"""The two lawful purposes for monitoring employees' use of equipment.

The e-mail regulation § 2 (seed 001) allows exactly two: administering the network and
detecting or investigating security breaches. Everything else (performance,
productivity, attendance …) is refused wherever a purpose is asked for.
"""

from __future__ import annotations

from enum import StrEnum


class Purpose(StrEnum):
    network_administration = "network_administration"
    security_incident = "security_incident"


LAWFUL_PURPOSES: tuple[str, ...] = tuple(p.value for p in Purpose)


class UnlawfulPurposeError(ValueError):
    """A purpose outside the two lawful ones was asked for."""


def parse_purpose(word: str) -> Purpose:
    """Return the lawful purpose named by `word`, or refuse with a clear message."""
    try:
        return Purpose(word)
    except ValueError:
        raise UnlawfulPurposeError(
            f"purpose {word!r} is not lawful: monitoring of employees is only allowed for "
            f"{' or '.join(LAWFUL_PURPOSES)} (e-mail regulation § 2)"
        ) from None
