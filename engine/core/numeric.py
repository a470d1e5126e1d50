"""Exact conversions between the book's float encoding and money arithmetic.

Prices and sizes arrive as decimal strings. The hot path stores them as IEEE doubles parsed by
msgspec: every decimal with at most 15 significant digits maps to a distinct double and back
(`repr(float("61800.20")) == "61800.2"`), so equality, ordering and hashing in the book are exact.
Money arithmetic (cost to fill, fees, order sizes) never happens in float: values cross into
`Decimal` through `to_decimal`, which recovers the exchange's decimal exactly.
"""

from __future__ import annotations

from decimal import Decimal

# Largest count of significant digits for which decimal -> double -> shortest repr is lossless.
EXACT_DIGITS = 15
# Upper bound accepted for any price or size; rejects inf and absurd values at decode time.
MAX_VALUE = 1e15


def to_decimal(x: float) -> Decimal:
    """The exact decimal the exchange sent for a value stored as a float."""
    return Decimal(repr(x))


def significant_digits(text: str) -> int:
    """Count significant digits of a plain decimal string (no exponent)."""
    digits = text.lstrip("+-").replace(".", "").lstrip("0").rstrip("0")
    return len(digits)


def fmt(x: float | None) -> str:
    """Render a book value as the exchange's decimal string (without padding zeros)."""
    if x is None:
        return ""
    return format(to_decimal(x), "f")
