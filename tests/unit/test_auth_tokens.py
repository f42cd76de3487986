"""Tests of TokenVerifier: every way a token is refused, roles, the cache, and mint."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tickwire_server.auth import TokenVerifier, mint
from tickwire_server.auth.keys import StaticKey
from tickwire_server.errors import Unauthenticated

SECRET = "unit-test-secret-of-at-least-32-bytes!"
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _hs(**overrides: Any) -> TokenVerifier:
    options: dict[str, Any] = {"algorithms": ["HS256"], "issuer": "tickwire", "leeway": 0.0}
    return TokenVerifier(StaticKey(SECRET), **{**options, **overrides})


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "alice", "exp": now + 60, "iss": "tickwire", "roles": ["read"]}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _token(claims: dict[str, Any] | None = None, key: Any = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(_claims() if claims is None else claims, key, algorithm=alg)


async def test_a_valid_token_is_its_subject_with_its_roles_until_exp() -> None:
    claims = _claims(roles=["read", "admin"])
    principal = await _hs().verify(_token(claims))
    assert principal.subject == "alice"
    assert principal.roles == {"read", "admin"}
    assert principal.via == "token"
    assert principal.valid_until == claims["exp"]


async def test_the_leeway_extends_validity_and_tolerates_a_skewed_clock() -> None:
    now = int(time.time())
    verifier = _hs(leeway=30.0)
    principal = await verifier.verify(_token(_claims(exp=now - 10)))  # expired 10 s ago
    assert principal.valid_until == now - 10 + 30
    await verifier.verify(_token(_claims(nbf=now + 10)))  # a clock 10 s behind


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (lambda now: _claims(exp=now - 5), "token expired"),
        (lambda now: _claims(nbf=now + 120), "token not valid yet"),
        (lambda now: _claims(iss="someone-else"), "wrong issuer"),
        (lambda now: _claims(sub=None), "token has no sub claim"),
        (lambda now: _claims(exp=None), "token has no exp claim"),
        (lambda now: _claims(sub=42), "sub is not a string"),
    ],
    ids=["expired", "nbf-future", "issuer", "no-sub", "no-exp", "sub-not-a-string"],
)
async def test_claims_that_fail_are_refused_with_the_reason(claims: Any, reason: str) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        await _hs().verify(_token(claims(int(time.time()))))


async def test_the_audience_is_checked_when_configured() -> None:
    verifier = _hs(audience="prices")
    await verifier.verify(_token(_claims(aud="prices")))
    with pytest.raises(Unauthenticated, match="wrong audience"):
        await verifier.verify(_token(_claims(aud="orders")))
    with pytest.raises(Unauthenticated, match="token has no aud claim"):
        await verifier.verify(_token(_claims()))


async def test_garbage_a_bad_signature_and_alg_none_are_refused() -> None:
    verifier = _hs()
    with pytest.raises(Unauthenticated, match="malformed token"):
        await verifier.verify("not.a.token")
    with pytest.raises(Unauthenticated, match="bad signature"):
        await verifier.verify(_token(key="another-secret-of-at-least-32-bytes!!"))
    unsigned = jwt.encode(_claims(), "", algorithm="none")
    with pytest.raises(Unauthenticated, match="algorithm not accepted"):
        await verifier.verify(unsigned)


async def test_an_hs256_token_is_refused_where_es256_is_configured() -> None:
    public = EC_KEY.public_key()
    verifier = TokenVerifier(StaticKey(public), algorithms=["ES256"], leeway=0.0)
    assert (await verifier.verify(_token(key=EC_KEY, alg="ES256"))).subject == "alice"
    with pytest.raises(Unauthenticated, match="algorithm not accepted"):
        await verifier.verify(_token())  # HS256, whatever its secret


async def test_roles_come_from_the_configured_claim_and_scope() -> None:
    verifier = _hs(roles_claim="perms")
    principal = await verifier.verify(_token(_claims(roles=None, perms="read", scope="admin x")))
    assert principal.roles == {"read", "admin", "x"}
    principal = await verifier.verify(_token(_claims(roles=None, perms=[1, "read"])))
    assert principal.roles == {"read"}  # what is not a string is ignored


async def test_a_verified_token_is_remembered_until_it_expires() -> None:
    verifier = _hs(cache_size=2)
    token = _token()
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first
    others = [_token(_claims(sub=f"user{i}")) for i in range(3)]
    for other in others:
        await verifier.verify(other)
    assert await verifier.verify(token) is not first  # forgotten once the cache was full


async def test_mint_makes_tokens_the_verifier_accepts() -> None:
    token = mint(SECRET, "bob", ["admin", "read", "read"], ttl=60, issuer="tickwire")
    principal = await _hs().verify(token)
    assert (principal.subject, principal.roles) == ("bob", {"admin", "read"})
    assert principal.valid_until is not None
    assert 55 <= principal.valid_until - time.time() <= 61
