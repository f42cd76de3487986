"""AccessControl: the one server interceptor that says who calls and whether it may.

It runs once per call, never per update: it wraps the method's own handler
(so an abort happens in a handler of the method's own kind, unary or
streaming), and the wrapper, on the call's task, takes the caller's
credentials from the call, turns them into a `Principal`, checks the role
the method's service needs, and sets `current_principal` for the servicer.

Credentials, first that applies: `authorization: Bearer <token>` metadata
(verified by `TokenVerifier`); a client certificate's subject (mutual TLS,
roles from settings); anonymous. With auth `none` no role is checked and a
token is not read. Health is always open; reflection is open unless
configured `authenticated`. Every other service needs the role the map
gives it, and a service the map does not name is refused: deny by default.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import grpc

from tickwire.v1 import market_data_pb2 as pb
from tickwire.v1 import scenario_pb2 as spb
from tickwire_server.auth.keys import JwksKeys, KeySource, StaticKey
from tickwire_server.auth.principal import ANONYMOUS, Principal, current_principal
from tickwire_server.auth.tokens import TokenVerifier
from tickwire_server.config import Settings
from tickwire_server.errors import AccessDenied, Forbidden, KeysUnavailable, Unauthenticated
from tickwire_server.stats import ServerStats

log = logging.getLogger(__name__)

HEALTH = "grpc.health.v1.Health"
REFLECTION = ("grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection")
# The role each service needs. Control-plane services get "admin" as they arrive.
ROLES: dict[str, str] = {
    pb.DESCRIPTOR.services_by_name["MarketData"].full_name: "read",
    spb.DESCRIPTOR.services_by_name["ScenarioControl"].full_name: "admin",
}
AUTHENTICATED = ""  # a service that needs a caller with a valid credential, whatever its roles

_CODES = {
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    KeysUnavailable: grpc.StatusCode.UNAVAILABLE,
}

if TYPE_CHECKING:  # generic in the type stubs only
    Context = grpc.aio.ServicerContext[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]


class AccessControl(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Authenticates every call and checks its role (see the module).

    Args:
        verifier: verifies bearer tokens; None for auth `none`.
        roles: service name -> the role it needs (`AUTHENTICATED`: any valid caller).
        open_services: services anyone may call.
        certificate_roles: the roles of a caller known by its client certificate.
    """

    def __init__(
        self,
        verifier: TokenVerifier | None,
        *,
        roles: Mapping[str, str] = ROLES,
        open_services: frozenset[str] = frozenset({HEALTH, *REFLECTION}),
        certificate_roles: frozenset[str] = frozenset({"read"}),
        stats: ServerStats | None = None,
    ) -> None:
        self.verifier = verifier
        self.stats = stats if stats is not None else ServerStats()
        self._roles = dict(roles)
        self._open = open_services
        self._certificate_roles = certificate_roles

    async def intercept_service(  # type: ignore[override]  # grpc takes None: no such method
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None:
            return None  # no such method: gRPC answers UNIMPLEMENTED
        service = details.method.lstrip("/").partition("/")[0]
        if service in self._open:
            return handler
        return _guarded(
            handler, details.method, lambda context: self.admit(service, context), self.stats
        )

    async def admit(self, service: str, context: Context) -> Principal:
        """The caller of `context`, allowed to call `service`.

        Raises:
            Unauthenticated, Forbidden, KeysUnavailable: it may not.
        """
        principal = await self._identify(context)
        if self.verifier is None:  # auth none: who it is counts, not what it may do
            return principal
        if service not in self._roles:
            raise Forbidden(f"no role grants access to {service}")
        if principal.via == "anonymous":
            raise Unauthenticated("no credentials: send authorization: Bearer <token>")
        need = self._roles[service]
        if need != AUTHENTICATED and need not in principal.roles:
            raise Forbidden(f"{principal.subject} lacks the role {need!r} that {service} needs")
        return principal

    async def _identify(self, context: Context) -> Principal:
        if self.verifier is not None:
            token = _bearer(context.invocation_metadata() or ())
            if token is not None:
                return await self.verifier.verify(token)
        subject = _certificate_subject(context.auth_context())
        if subject is not None:
            return Principal(subject, self._certificate_roles, via="certificate")
        return ANONYMOUS


def build_access_control(settings: Settings, stats: ServerStats | None = None) -> AccessControl:
    """The interceptor `settings` call for.

    Raises:
        ConfigError: the public key file holds no key.
    """
    open_services = {HEALTH} | (set(REFLECTION) if settings.reflection == "open" else set())
    closed_reflection = settings.reflection == "authenticated"
    roles = dict(ROLES) | (dict.fromkeys(REFLECTION, AUTHENTICATED) if closed_reflection else {})
    verifier = None
    if settings.auth == "jwt":
        keys: KeySource
        if settings.jwt_secret is not None and settings.jwt_secret.get_secret_value():
            keys = StaticKey(settings.jwt_secret.get_secret_value())
        elif settings.jwt_public_key is not None:
            keys = StaticKey.from_pem(settings.jwt_public_key)
        else:
            assert settings.jwt_jwks_url is not None  # the settings checked that one is given
            keys = JwksKeys(settings.jwt_jwks_url, cooldown=settings.jwt_jwks_cooldown)
        verifier = TokenVerifier(
            keys,
            algorithms=settings.jwt_algorithms,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway,
            roles_claim=settings.jwt_roles_claim,
        )
    return AccessControl(
        verifier,
        roles=roles,
        open_services=frozenset(open_services),
        certificate_roles=frozenset(settings.tls_client_roles),
        stats=stats,
    )


def _bearer(metadata: Any) -> str | None:
    """The token of an `authorization: Bearer <token>` entry; None when there is none.

    Raises:
        Unauthenticated: an authorization entry of another form.
    """
    for key, value in metadata:
        if key != "authorization":
            continue
        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        scheme, _, token = text.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("malformed authorization metadata: expected 'Bearer <token>'")
        return token.strip()
    return None


def _certificate_subject(auth: Mapping[str, Any]) -> str | None:
    """The verified client certificate's common name, else its first SAN."""
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        values = auth.get(key) or []
        if values:
            value = values[0]
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


def _guarded(
    handler: Handler,
    method: str,
    admit: Callable[[Context], Awaitable[Principal]],
    stats: ServerStats,
) -> Handler:
    """`handler` whose behaviour first admits the caller, then runs as `current_principal`."""
    kind = ("stream_" if handler.request_streaming else "unary_") + (
        "stream" if handler.response_streaming else "unary"
    )
    behavior = getattr(handler, kind)

    async def enter(context: Context) -> Any:
        try:
            principal = await admit(context)
        except AccessDenied as denied:
            log.info("refused %s from %s: %s", method, context.peer(), denied)
            stats.requests_rejected[_CODES[type(denied)].name.lower()] += 1
            await context.abort(_CODES[type(denied)], str(denied))
        return current_principal.set(principal)

    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            token = await enter(context)
            try:
                async for response in behavior(request, context):
                    yield response
            finally:
                current_principal.reset(token)

        return handler._replace(**{kind: stream})  # type: ignore[attr-defined, no-any-return]

    async def call(request: Any, context: Context) -> Any:
        token = await enter(context)
        try:
            return await behavior(request, context)
        finally:
            current_principal.reset(token)

    return handler._replace(**{kind: call})  # type: ignore[attr-defined, no-any-return]
