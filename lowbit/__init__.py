"""lowbit: co-design low-bit neural-network accelerators and their number formats.

The library lives in the sibling packages `models`, `kernels_ref`, `hwsim`,
`mapper`, `search` and `reports`; this package holds the command line only.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
