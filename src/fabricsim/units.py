"""Parse and format quantities at the edges (SI base units inside: bits/s, bytes, seconds)."""

from __future__ import annotations

import math
import re

from fabricsim.errors import FabricsimError, echo

_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([kmgtp]?)(?:b(?:it)?(?:/s|ps)?)?\s*$", re.I)
_RATE_SCALE = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15}

_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)\s*([kmgtp]?)(i?)b?\s*$", re.I)


def _number(value, field: str, what: str, example: str, pattern, scale_of) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise FabricsimError(f"{field}={echo(value)}: not {what}; write e.g. {example}")
    if isinstance(value, (int, float)):
        number = float(value) if abs(value) < 1e308 else math.inf
    else:
        match = pattern.match(value) if len(value) <= 64 else None
        if not match:
            raise FabricsimError(f"{field}={echo(value)}: not {what}; write e.g. {example}")
        number = float(match.group(1)) * scale_of(match)
    if not math.isfinite(number):
        raise FabricsimError(f"{field}={echo(value)}: {what} must be a finite number")
    return number


def parse_bits_per_s(value, field: str = "rate", maximum: float = 1e15) -> float:
    """'400G', '1.6T', '800Gb/s', 4e11 -> bits/s (finite, > 0, at most ``maximum``)."""
    rate = _number(value, field, "a link speed", "400G, 800G, 1.6T or 4e11 (bits/s)", _RATE,
                   lambda m: _RATE_SCALE[m.group(2).lower()])
    if rate <= 0:
        raise FabricsimError(f"{field}={echo(value)}: a link speed must be > 0")
    if rate > maximum:
        raise FabricsimError(f"{field}={echo(value)}: a link speed must be at most {maximum:.3g} bits/s")
    return rate


MAX_BYTES = 2**50
"""Largest size accepted (1 PiB): a message or buffer larger than any cluster's memory is a typo."""


def parse_bytes(value, field: str = "size", maximum: int = MAX_BYTES) -> int:
    """'1MiB' (2**20), '1MB' (10**6), '8GiB', 4096 -> bytes (int, >= 1, at most ``maximum``)."""

    def scale(match) -> float:
        _, prefix, binary = match.groups()
        exponent = "kmgtp".find(prefix.lower()) + 1 if prefix else 0
        return (1024 if binary else 1000) ** exponent

    size = _number(value, field, "a size", "4096, 1MiB, 8GiB or 1GB", _SIZE, scale)
    if size < 0.5:
        raise FabricsimError(f"{field}={echo(value)}: a size must be at least 1 byte")
    if size > maximum:
        raise FabricsimError(f"{field}={echo(value)}: a size must be at most {format_bytes(maximum)}")
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


def parse_size_sweep(spec: str, max_sizes: int = 1024) -> list[int]:
    """'1MiB:8GiB' -> powers of two from 1 MiB to 8 GiB (nccl-tests -b/-e -f 2); '1GiB' -> one size;
    '1MiB,64MiB' -> a list (the ``--sizes`` grammar of ``fabricsim collective`` and the web API)."""
    if ":" in spec:
        lo, hi = (parse_bytes(p, "--sizes") for p in spec.split(":", 1))
        if hi < lo:
            raise FabricsimError(f"--sizes {echo(spec)}: the end ({hi:,} B) is below the start ({lo:,} B)")
        sizes, size = [], lo
        while size <= hi and len(sizes) <= max_sizes:
            sizes.append(size)
            size *= 2
    else:
        sizes = [parse_bytes(p, "--sizes") for p in spec.split(",")[: max_sizes + 1]]
    if len(sizes) > max_sizes:
        raise FabricsimError(f"--sizes {echo(spec)}: at most {max_sizes} sizes per sweep")
    return sizes
