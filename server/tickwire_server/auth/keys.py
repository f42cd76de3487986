"""Where token verification keys come from: one static key, or a JWKS endpoint.

A JWKS endpoint is fetched off the event loop and cached: its keys are
refetched every `lifespan` seconds (so a key removed there stops working),
at once when a token names a key id the set does not hold (at most once
per `cooldown`, so made-up ids cannot flood the endpoint), and kept when a
refetch fails, so an outage of the endpoint does not stop tokens signed
with keys already known.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from jwt import PyJWK, PyJWKClient, PyJWKSet
from jwt.exceptions import DecodeError, PyJWKClientError, PyJWKSetError

from tickwire_server.errors import ConfigError, KeysUnavailable, Unauthenticated

log = logging.getLogger(__name__)


class KeySource(Protocol):
    """Finds the key that verifies a token."""

    async def key_for(self, token: str) -> Any:
        """The verification key for `token` (its header may name one).

        Raises:
            Unauthenticated: no key fits the token.
            KeysUnavailable: the keys cannot be had right now.
        """


class StaticKey:
    """The same key for every token: an HMAC secret or a public key."""

    def __init__(self, key: Any) -> None:
        self._key = key

    @classmethod
    def from_pem(cls, path: Path) -> StaticKey:
        """The public key in the PEM file `path`.

        Raises:
            ConfigError: the file holds no public key.
        """
        try:
            return cls(serialization.load_pem_public_key(path.read_bytes()))
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"{path} holds no PEM public key: {exc}") from exc

    async def key_for(self, token: str) -> Any:
        return self._key


class JwksKeys:
    """The keys of a JWKS endpoint, by key id (`kid`), cached as the module says."""

    def __init__(
        self, url: str, *, timeout: float = 5.0, cooldown: float = 5.0, lifespan: float = 300.0
    ) -> None:
        self.url = url
        self._client = PyJWKClient(url, cache_jwk_set=False, timeout=timeout)  # fetching only
        self._cooldown = cooldown
        self._lifespan = lifespan
        self._keys: dict[str | None, PyJWK] = {}
        self._fetched_at: float | None = None  # monotonic time of the last fetch tried
        self._failure = ""
        self._lock = asyncio.Lock()

    async def key_for(self, token: str) -> Any:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except DecodeError as exc:
            raise Unauthenticated(f"malformed token: {exc}") from None
        if not isinstance(kid, str | None):
            raise Unauthenticated("malformed token: its kid is not a string")
        now = time.monotonic()
        last = self._fetched_at
        fetched = True
        if (
            last is None
            or now - last >= self._lifespan
            or (kid not in self._keys and now - last >= self._cooldown)
        ):
            fetched = await self._refresh(last)
        key = self._keys.get(kid)
        if key is None and kid is None and len(self._keys) == 1:
            key = next(iter(self._keys.values()))  # one key, and a token that names none
        if key is not None:
            return key
        if not fetched:  # the key may be there: say so rather than call the token bad
            raise KeysUnavailable(f"the signing keys cannot be fetched: {self._failure}")
        raise Unauthenticated(f"no signing key with kid {kid!r} at {self.url}")

    async def _refresh(self, seen: float | None) -> bool:
        """Fetch the set unless another call did meanwhile; False when the fetch failed."""
        async with self._lock:
            if self._fetched_at != seen:
                return not self._failure  # another call refreshed while this one waited
            self._fetched_at = time.monotonic()
            try:
                data = await asyncio.to_thread(self._client.fetch_data)
                keys = {key.key_id: key for key in PyJWKSet.from_dict(data).keys}
            except (PyJWKClientError, PyJWKSetError) as exc:
                self._failure = str(exc)
                log.warning(
                    "JWKS %s not refreshed (%s); keeping %d keys", self.url, exc, len(self._keys)
                )
                return False
            self._failure = ""
            self._keys = keys
            log.info("JWKS %s: %d signing keys", self.url, len(keys))
            return True
