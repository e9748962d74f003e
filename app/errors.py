"""The errors the gateway raises, each knowing its HTTP status and machine code.

GatewayError
 ├── InvalidRequestError            400 INVALID_REQUEST
 │    ├── InvalidModelError         400 INVALID_MODEL
 │    ├── ContextLengthExceededError 400 CONTEXT_LENGTH_EXCEEDED
 │    ├── ContentBlockedError       400 CONTENT_BLOCKED (a request hook refused the content)
 │    └── UnsupportedFeatureError   400 INVALID_REQUEST (a feature the target cannot express)
 ├── AuthenticationError            401 AUTHENTICATION_ERROR
 ├── PermissionDeniedError          403 PERMISSION_DENIED
 │    └── ModelNotAllowedError      403 MODEL_NOT_ALLOWED
 ├── NotFoundError                  404 NOT_FOUND
 ├── MethodNotAllowedError          405 METHOD_NOT_ALLOWED
 ├── ConflictError                  409 CONFLICT
 ├── PayloadTooLargeError           413 PAYLOAD_TOO_LARGE
 ├── ValidationFailedError          422 VALIDATION_ERROR
 ├── LimitError (carry retry_after)
 │    ├── RateLimitedError          429 RATE_LIMITED
 │    ├── DailyRequestLimitExceededError 429 DAILY_REQUEST_LIMIT_EXCEEDED
 │    └── BudgetExceededError       429 BUDGET_EXCEEDED
 ├── UpstreamStatusError            (the upstream's own 4xx/429, passed through)
 ├── HookRejectedError              (a request hook's own status and code)
 ├── ProviderError                  502 PROVIDER_ERROR (every candidate failed)
 ├── ProviderTimeoutError           504 PROVIDER_TIMEOUT
 ├── ServiceUnavailableError        503 SERVICE_UNAVAILABLE
 └── InternalError                  500 INTERNAL_ERROR
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AuthenticationError",
    "BudgetExceededError",
    "ConflictError",
    "ContentBlockedError",
    "ContextLengthExceededError",
    "DailyRequestLimitExceededError",
    "GatewayError",
    "HookRejectedError",
    "InternalError",
    "InvalidModelError",
    "InvalidRequestError",
    "LimitError",
    "MethodNotAllowedError",
    "ModelNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitedError",
    "ServiceUnavailableError",
    "UnsupportedFeatureError",
    "UpgradeRequiredError",
    "UpstreamStatusError",
    "ValidationFailedError",
]


class GatewayError(Exception):
    """Base of every error that reaches a client as problem+json."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    title: ClassVar[str] = "Internal error"
    openai_type: ClassVar[str] = "api_error"
    anthropic_type: ClassVar[str] = "api_error"

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}
        self.param = param

    @property
    def status_code(self) -> int:
        return self.status

    @property
    def error_code(self) -> str:
        return self.code

    @property
    def type_uri(self) -> str:
        return "/errors/" + self.error_code.lower().replace("_", "-")


class InvalidRequestError(GatewayError):
    """The request is malformed or asks for something impossible."""

    status = 400
    code = "INVALID_REQUEST"
    title = "Invalid request"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"


class InvalidModelError(InvalidRequestError):
    """No route or provider model has this name."""

    code = "INVALID_MODEL"
    title = "Invalid model"


class UpgradeRequiredError(InvalidRequestError):
    """A WebSocket endpoint asked for over plain HTTP."""

    status = 426
    code = "UPGRADE_REQUIRED"
    title = "Upgrade required"


class ContextLengthExceededError(InvalidRequestError):
    """The prompt does not fit any candidate's context window."""

    code = "CONTEXT_LENGTH_EXCEEDED"
    title = "Context length exceeded"


class ContentBlockedError(InvalidRequestError):
    """A request hook (the deny-list, say) refused the request or the answer."""

    code = "CONTENT_BLOCKED"
    title = "Content blocked"


class UnsupportedFeatureError(InvalidRequestError):
    """The request uses a feature the chosen target's dialect cannot express."""

    title = "Unsupported feature"


class AuthenticationError(GatewayError):
    """Missing, unknown, revoked or expired credentials."""

    status = 401
    code = "AUTHENTICATION_ERROR"
    title = "Authentication failed"
    openai_type = "authentication_error"
    anthropic_type = "authentication_error"


class PermissionDeniedError(GatewayError):
    """Valid credentials that may not do this."""

    status = 403
    code = "PERMISSION_DENIED"
    title = "Permission denied"
    openai_type = "permission_error"
    anthropic_type = "permission_error"


class ModelNotAllowedError(PermissionDeniedError):
    """The key's plan does not include this model."""

    code = "MODEL_NOT_ALLOWED"
    title = "Model not allowed"


class NotFoundError(GatewayError):
    """No such resource."""

    status = 404
    code = "NOT_FOUND"
    title = "Not found"
    openai_type = "not_found_error"
    anthropic_type = "not_found_error"


class MethodNotAllowedError(GatewayError):
    """The path exists but not with this method."""

    status = 405
    code = "METHOD_NOT_ALLOWED"
    title = "Method not allowed"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"


class ConflictError(GatewayError):
    """The change conflicts with existing state (duplicate name, object in use)."""

    status = 409
    code = "CONFLICT"
    title = "Conflict"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"


class PayloadTooLargeError(GatewayError):
    """The request body exceeds the configured limit.

    Always sent with `Connection: close`: the rest of the body stays unread, so the connection
    cannot carry another request, and a keep-alive client must not send one into it.
    """

    status = 413
    code = "PAYLOAD_TOO_LARGE"
    title = "Payload too large"
    openai_type = "invalid_request_error"
    anthropic_type = "request_too_large"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        if not any(name.lower() == "connection" for name in self.headers):
            self.headers["connection"] = "close"


class ValidationFailedError(GatewayError):
    """A management object failed validation; `extra["errors"]` lists each field."""

    status = 422
    code = "VALIDATION_ERROR"
    title = "Validation failed"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"


class LimitError(GatewayError):
    """A plan limit was hit; carries the seconds until the window resets."""

    status = 429
    openai_type = "rate_limit_error"
    anthropic_type = "rate_limit_error"

    def __init__(self, detail: str, *, retry_after: float, headers: dict[str, str] | None = None) -> None:
        self.retry_after = max(1, int(retry_after + 0.999))
        merged = {"Retry-After": str(self.retry_after), **(headers or {})}
        super().__init__(detail, headers=merged)


class RateLimitedError(LimitError):
    """Requests or tokens per minute exceeded."""

    code = "RATE_LIMITED"
    title = "Rate limited"


class DailyRequestLimitExceededError(LimitError):
    """The plan's requests per UTC day are used up."""

    code = "DAILY_REQUEST_LIMIT_EXCEEDED"
    title = "Daily request limit exceeded"


class BudgetExceededError(LimitError):
    """The monthly budget in USD is spent."""

    code = "BUDGET_EXCEEDED"
    title = "Budget exceeded"


class UpstreamStatusError(GatewayError):
    """An upstream error that is the caller's fault, passed through with its status and message."""

    code = "UPSTREAM_ERROR"
    title = "Upstream rejected the request"

    _BY_STATUS: ClassVar[dict[int, tuple[str, str, str]]] = {
        400: ("INVALID_REQUEST", "invalid_request_error", "invalid_request_error"),
        401: ("PROVIDER_ERROR", "api_error", "api_error"),
        403: ("PERMISSION_DENIED", "permission_error", "permission_error"),
        404: ("NOT_FOUND", "not_found_error", "not_found_error"),
        408: ("PROVIDER_TIMEOUT", "api_error", "api_error"),
        413: ("PAYLOAD_TOO_LARGE", "invalid_request_error", "request_too_large"),
        422: ("INVALID_REQUEST", "invalid_request_error", "invalid_request_error"),
        429: ("RATE_LIMITED", "rate_limit_error", "rate_limit_error"),
    }

    def __init__(
        self,
        detail: str,
        *,
        upstream_status: int,
        upstream_code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        # The provider's own code (e.g. content_policy_violation) rides along: callers branch on it.
        super().__init__(detail, headers=headers, extra={"upstream_code": upstream_code} if upstream_code else None)
        self.upstream_status = upstream_status
        self.upstream_code = upstream_code
        fallback = ("INVALID_REQUEST", "invalid_request_error", "invalid_request_error")
        self._code, self._openai_type, self._anthropic_type = self._BY_STATUS.get(upstream_status, fallback)
        if upstream_code == "context_length_exceeded":
            self._code = "CONTEXT_LENGTH_EXCEEDED"

    @property
    def status_code(self) -> int:
        # An upstream 401 means our provider credentials are wrong, not the caller's.
        return 502 if self.upstream_status == 401 else self.upstream_status

    @property
    def error_code(self) -> str:
        return self._code

    @property
    def dialect_types(self) -> tuple[str, str]:
        return self._openai_type, self._anthropic_type


class HookRejectedError(GatewayError):
    """A third-party request hook refused with a status and code of its own choosing."""

    title = "Rejected by a request hook"
    openai_type = "invalid_request_error"
    anthropic_type = "invalid_request_error"

    def __init__(self, detail: str, *, status: int, code: str) -> None:
        super().__init__(detail)
        self._status = status if 400 <= status <= 599 else 400
        self._code = code or "REJECTED"

    @property
    def status_code(self) -> int:
        return self._status

    @property
    def error_code(self) -> str:
        return self._code


class ProviderError(GatewayError):
    """Every candidate failed; `extra["attempts"]` lists them."""

    status = 502
    code = "PROVIDER_ERROR"
    title = "Provider error"


class ProviderTimeoutError(ProviderError):
    """The candidates timed out."""

    status = 504
    code = "PROVIDER_TIMEOUT"
    title = "Provider timeout"


class ServiceUnavailableError(GatewayError):
    """The gateway cannot serve right now (draining, dependency down under fail-closed)."""

    status = 503
    code = "SERVICE_UNAVAILABLE"
    title = "Service unavailable"
    anthropic_type = "overloaded_error"


class InternalError(GatewayError):
    """A bug: rendered as problem+json all the same."""
