"""OKX v5: instruments and their unified symbols, `books` frames and the book's own integrity
rules (sequence ids, the CRC32 checksum of the top 25 levels)."""
