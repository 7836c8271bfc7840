"""lowbit package."""
