"""Retry policies, under the official SDK's module path (``yandex_ai_studio_sdk.retry``)."""

from ._runtime.retry import NoRetryPolicy, RetryPolicy

__all__ = ["NoRetryPolicy", "RetryPolicy"]
