"""Local L2 order books and their venue sync rules: pure, no I/O."""

from engine.book.l2 import FillEstimate, L2Book
from engine.book.sync import BookSync, SyncRule

__all__ = ["BookSync", "FillEstimate", "L2Book", "SyncRule"]
