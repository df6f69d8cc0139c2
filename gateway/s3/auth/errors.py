"""Authentication errors carrying the S3 error code the gateway should return."""

from __future__ import annotations


class AuthError(Exception):
    """An authentication failure; ``code`` is an S3 error code such as ``AccessDenied``."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status  # None: the code's usual status
