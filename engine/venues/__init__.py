"""Venue-specific code, one package per venue: request weights and limits, error codes, quirks,
and (okx, bybit) the venue's own book rules: sequence ids, checksums, depth.

Nothing outside this package (and the wire decoders in `engine.feeds`) names a venue's codes.
"""
