"""Parse and format quantities at the edges (SI base units inside: bits/s, bytes, seconds)."""

from __future__ import annotations

import re

from fabricsim.errors import FabricsimError

_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([kmgtp]?)(?:b(?:it)?(?:/s|ps)?)?\s*$", re.I)
_RATE_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15}

_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([kmgtp]?)(i?)b?\s*$", re.I)


def parse_bits_per_s(value, field: str = "rate") -> float:
    """'400G', '1.6T', '800Gb/s', 4e11 -> bits/s."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        rate = float(value)
    else:
        match = _RATE.match(str(value))
        if not match:
            raise FabricsimError(f"{field}={value!r}: not a link speed; write e.g. 400G, 800G, 1.6T or 4e11 (bits/s)")
        rate = float(match.group(1)) * _RATE_SCALE[match.group(2).lower()]
    if rate <= 0:
        raise FabricsimError(f"{field}={value!r}: a link speed must be > 0")
    return rate


def parse_bytes(value, field: str = "size") -> int:
    """'1MiB' (2**20), '1MB' (10**6), '8GiB', 4096 -> bytes (int)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        size = float(value)
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise FabricsimError(f"{field}={value!r}: not a size; write e.g. 4096, 1MiB, 8GiB or 1GB")
        number, prefix, binary = match.groups()
        exponent = "kmgtp".find(prefix.lower()) + 1 if prefix else 0
        size = float(number) * (1024 if binary else 1000) ** exponent
    if size <= 0:
        raise FabricsimError(f"{field}={value!r}: a size must be > 0 bytes")
    return int(round(size))


def format_bits_per_s(rate: float) -> str:
    for scale, unit in ((1e15, "Pb/s"), (1e12, "Tb/s"), (1e9, "Gb/s"), (1e6, "Mb/s")):
        if rate >= scale:
            return f"{rate / scale:,.4g} {unit}"
    return f"{rate:,.0f} b/s"


def format_speed_short(rate: float) -> str:
    """Port-speed label as the field writes it: 400G, 800G, 1.6T."""
    if rate >= 1e12:
        return f"{rate / 1e12:g}T"
    return f"{rate / 1e9:g}G"


def format_bytes(size: float) -> str:
    for scale, unit in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if size >= scale:
            return f"{size / scale:,.4g} {unit}"
    return f"{size:,.0f} B"


def format_watts(power: float) -> str:
    for scale, unit in ((1e9, "GW"), (1e6, "MW"), (1e3, "kW")):
        if abs(power) >= scale:
            return f"{power / scale:,.3g} {unit}"
    return f"{power:,.0f} W"


def format_usd(amount: float) -> str:
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(amount) >= scale:
            return f"${amount / scale:,.3g}{unit}"
    return f"${amount:,.0f}"
