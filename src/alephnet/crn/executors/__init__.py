"""Executors start a guest runtime for one VM and hand back a link to it.

`base` declares the interface; `guest_link` is the supervisor's side of the frame protocol,
shared by every executor; `sandbox/` and `microvm/` are the two implementations, with file
names that mirror each other.
"""
