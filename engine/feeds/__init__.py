"""Market data sources: recorded captures, bars and funding files, and (later) live ccxt.pro feeds."""
