"""Typed message-processing errors, one class per numeric error code of the Aleph protocol.

The codes are the reference node's (pyaleph ``ErrorCode``): clients read ``error_code`` from the
``/messages/{hash}`` answer of a rejected message, so the numbers are part of the wire format.
They come in blocks: 0-6 for any message, 100s POST, 200s STORE, 300s PROGRAM/INSTANCE, 500s FORGET.

Two families, because the pipeline treats them differently::

    MessageError
    ├── InvalidMessage        reject now; sending the same message again will fail again
    │   ├── InvalidFormat (0), InvalidSignature (1), PermissionDenied (2), ...
    └── RetryMessage          try later; the missing piece (a file, an amend target) may arrive
        ├── ContentUnavailable (3), FileUnavailable (4), ...
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar


class ErrorCode(IntEnum):
    INTERNAL_ERROR = -1
    INVALID_FORMAT = 0
    INVALID_SIGNATURE = 1
    PERMISSION_DENIED = 2
    CONTENT_UNAVAILABLE = 3
    FILE_UNAVAILABLE = 4
    BALANCE_INSUFFICIENT = 5
    CREDIT_INSUFFICIENT = 6
    POST_AMEND_NO_TARGET = 100
    POST_AMEND_TARGET_NOT_FOUND = 101
    POST_AMEND_AMEND = 102
    STORE_REF_NOT_FOUND = 200
    STORE_UPDATE_UPDATE = 201
    INVALID_PAYMENT_METHOD = 202
    VM_REF_NOT_FOUND = 300
    VM_VOLUME_NOT_FOUND = 301
    VM_AMEND_NOT_ALLOWED = 302
    VM_UPDATE_UPDATE = 303
    VM_VOLUME_TOO_SMALL = 304
    FORGET_NO_TARGET = 500
    FORGET_TARGET_NOT_FOUND = 501
    FORGET_FORGET = 502
    FORGET_NOT_ALLOWED = 503
    FORGOTTEN_DUPLICATE = 504


class MessageError(Exception):
    """Base of every processing error: carries the protocol error code and JSON-able details."""

    error_code: ClassVar[ErrorCode] = ErrorCode.INTERNAL_ERROR

    def __init__(self, message: str = "", details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        name = self.error_code.name
        text = f"{name} ({int(self.error_code)})"
        if self.message:
            text += f": {self.message}"
        if self.details is not None:
            text += f" {self.details!r}"
        return text


class InvalidMessage(MessageError):
    """The message is wrong and will stay wrong: reject it."""


class RetryMessage(MessageError):
    """Something the message needs is not here yet: process it again later."""


class InternalError(RetryMessage):
    error_code = ErrorCode.INTERNAL_ERROR


class InvalidFormat(InvalidMessage):
    error_code = ErrorCode.INVALID_FORMAT


class InvalidSignature(InvalidMessage):
    error_code = ErrorCode.INVALID_SIGNATURE


class PermissionDenied(InvalidMessage):
    error_code = ErrorCode.PERMISSION_DENIED


class ContentUnavailable(RetryMessage):
    error_code = ErrorCode.CONTENT_UNAVAILABLE


class FileUnavailable(RetryMessage):
    error_code = ErrorCode.FILE_UNAVAILABLE


class BalanceInsufficient(InvalidMessage):
    error_code = ErrorCode.BALANCE_INSUFFICIENT


class CreditInsufficient(InvalidMessage):
    error_code = ErrorCode.CREDIT_INSUFFICIENT


class PostAmendNoTarget(InvalidMessage):
    error_code = ErrorCode.POST_AMEND_NO_TARGET


class PostAmendTargetNotFound(RetryMessage):
    error_code = ErrorCode.POST_AMEND_TARGET_NOT_FOUND


class PostAmendAmend(InvalidMessage):
    error_code = ErrorCode.POST_AMEND_AMEND


class StoreRefNotFound(RetryMessage):
    error_code = ErrorCode.STORE_REF_NOT_FOUND


class StoreUpdateUpdate(InvalidMessage):
    error_code = ErrorCode.STORE_UPDATE_UPDATE


class InvalidPaymentMethod(InvalidMessage):
    error_code = ErrorCode.INVALID_PAYMENT_METHOD


class VmRefNotFound(RetryMessage):
    error_code = ErrorCode.VM_REF_NOT_FOUND


class VmVolumeNotFound(RetryMessage):
    error_code = ErrorCode.VM_VOLUME_NOT_FOUND


class VmAmendNotAllowed(InvalidMessage):
    error_code = ErrorCode.VM_AMEND_NOT_ALLOWED


class VmUpdateUpdate(InvalidMessage):
    error_code = ErrorCode.VM_UPDATE_UPDATE


class VmVolumeTooSmall(InvalidMessage):
    error_code = ErrorCode.VM_VOLUME_TOO_SMALL


class ForgetNoTarget(InvalidMessage):
    error_code = ErrorCode.FORGET_NO_TARGET


class ForgetTargetNotFound(RetryMessage):
    error_code = ErrorCode.FORGET_TARGET_NOT_FOUND


class ForgetForget(InvalidMessage):
    error_code = ErrorCode.FORGET_FORGET


class ForgetNotAllowed(InvalidMessage):
    error_code = ErrorCode.FORGET_NOT_ALLOWED


class ForgottenDuplicate(InvalidMessage):
    error_code = ErrorCode.FORGOTTEN_DUPLICATE
