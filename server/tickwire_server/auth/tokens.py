"""Bearer tokens: verify a JWT into a `Principal` (cached until it expires), and mint one.

Verification follows the configuration only: the accepted algorithms,
issuer and audience are fixed at start and never read from the token's
header; `sub` and `exp` are required. Each failure is an `Unauthenticated`
whose message names the reason and never holds the token.
"""

from __future__ import annotations

import collections
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import jwt
from jwt import exceptions as jwt_errors

from tickwire_server.auth.keys import KeySource
from tickwire_server.auth.principal import Principal
from tickwire_server.errors import Unauthenticated

# pyjwt's failures, most specific first, and what the caller is told.
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt_errors.ExpiredSignatureError, "token expired"),
    (jwt_errors.ImmatureSignatureError, "token not valid yet (nbf or iat in the future)"),
    (jwt_errors.InvalidIssuerError, "wrong issuer"),
    (jwt_errors.InvalidAudienceError, "wrong audience"),
    (jwt_errors.InvalidSignatureError, "bad signature"),
    (jwt_errors.InvalidAlgorithmError, "algorithm not accepted"),
    (jwt_errors.InvalidKeyError, "the key does not fit the token's algorithm"),
    (jwt_errors.InvalidSubjectError, "sub is not a string"),
    (jwt_errors.DecodeError, "malformed token"),
)


class TokenVerifier:
    """Turns bearer tokens into principals, remembering each verified token until it expires.

    Args:
        keys: where the verification key of a token comes from.
        algorithms: the accepted `alg`s (never taken from the token).
        issuer: required `iss`, if any. audience: required `aud`, if any.
        leeway: seconds of clock skew allowed on `exp`, `nbf` and `iat`.
        roles_claim: the claim holding the roles, a list or a space-separated
            string; a `scope` claim adds its space-separated roles too.
        cache_size: verified tokens remembered (oldest forgotten first).
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        algorithms: Sequence[str],
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 30.0,
        roles_claim: str = "roles",
        cache_size: int = 10_000,
    ) -> None:
        self._keys = keys
        self._algorithms = list(algorithms)
        self._issuer = issuer
        self._audience = audience
        self.leeway = leeway
        self._roles_claim = roles_claim
        self._cache: collections.OrderedDict[str, Principal] = collections.OrderedDict()
        self._cache_size = cache_size

    async def verify(self, token: str) -> Principal:
        """The principal `token` stands for.

        Raises:
            Unauthenticated: the token is malformed, badly signed, expired,
                not valid yet, for another issuer or audience, or lacks `sub`/`exp`.
            KeysUnavailable: its key cannot be fetched now.
        """
        cached = self._cache.get(token)
        if cached is not None and cached.valid_until is not None:
            if time.time() <= cached.valid_until:
                return cached
            del self._cache[token]
        key = await self._keys.key_for(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self.leeway,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt_errors.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"token has no {exc.claim} claim") from None
        except jwt_errors.PyJWTError as exc:
            reason = next((r for kind, r in _REASONS if isinstance(exc, kind)), "invalid token")
            raise Unauthenticated(reason) from None
        principal = Principal(
            claims["sub"],
            frozenset(_roles(claims.get(self._roles_claim)) | _roles(claims.get("scope"))),
            via="token",
            valid_until=float(claims["exp"]) + self.leeway,
        )
        self._cache[token] = principal
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal


def _roles(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, list | tuple):
        return {role for role in value if isinstance(role, str)}
    return set()


def mint(
    secret: str,
    subject: str,
    roles: Iterable[str] = ("read",),
    *,
    ttl: float = 3600.0,
    issuer: str | None = None,
    audience: str | None = None,
    roles_claim: str = "roles",
    algorithm: str = "HS256",
) -> str:
    """An HMAC-signed token for `subject` with `roles`, valid for `ttl` seconds from now.

    For developers and tests (`tickwire-server token`, `tickwire_server.testing`);
    production tokens come from the identity provider.
    """
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        roles_claim: sorted(set(roles)),
        "iat": now,
        "exp": now + max(1, round(ttl)),
        "jti": uuid.uuid4().hex,
    }
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm=algorithm)
