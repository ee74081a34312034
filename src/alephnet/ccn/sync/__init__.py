"""Anti-entropy sync: nodes compare digests of time ranges and pull what they lack.

The protocol is described in docs/sync.md.
"""
