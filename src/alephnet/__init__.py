"""alephnet: a Python implementation of the Aleph.im network."""

__version__ = "0.1.0"
