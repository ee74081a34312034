"""The guest side of the CRN: the init and the runtime that serves the user's program.

Everything under this package uses the Python standard library only, because it runs inside
the micro-VM on the runtime root filesystem, where nothing else is installed. The supervisor
imports `frames` from here too, so both sides speak one definition of the wire format.
"""
