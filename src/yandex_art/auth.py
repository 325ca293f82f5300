"""Credential providers, under the official SDK's module path (``yandex_ai_studio_sdk.auth``)."""

from ._runtime.auth import (
    APIKeyAuth,
    AuthProvider,
    EnvIAMTokenAuth,
    IAMTokenAuth,
    MetadataAuth,
    NoAuth,
    OAuthTokenAuth,
    YandexCloudCLIAuth,
    YcCliAuth,
)

BaseAuth = AuthProvider  # the official base class's name; here a Protocol

__all__ = [
    "APIKeyAuth",
    "AuthProvider",
    "BaseAuth",
    "EnvIAMTokenAuth",
    "IAMTokenAuth",
    "MetadataAuth",
    "NoAuth",
    "OAuthTokenAuth",
    "YandexCloudCLIAuth",
    "YcCliAuth",
]
