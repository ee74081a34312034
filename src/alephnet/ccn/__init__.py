"""The Core Channel Node: accepts, verifies, processes, stores and serves messages and files."""
