"""Data sources: anything that yields row blocks of a 2-D float array."""
from .sources import ArraySource, ChunkSource

__all__ = ["ArraySource", "ChunkSource"]
