"""Access control: who a caller is (token or certificate) and what it may call.

- `principal`: `Principal`, and the context variable a call's handlers read it from;
- `keys`: where verification keys come from (a secret, a PEM file, a JWKS endpoint);
- `tokens`: `TokenVerifier` (bearer JWTs to principals, cached until expiry) and `mint`;
- `interceptor`: `AccessControl`, the grpc.aio server interceptor with the role map;
- `tls`: `ServerTls`, server credentials re-read on SIGHUP.
"""

from tickwire_server.auth.interceptor import AccessControl, build_access_control
from tickwire_server.auth.principal import ANONYMOUS, Principal, current_principal
from tickwire_server.auth.tls import ServerTls
from tickwire_server.auth.tokens import TokenVerifier, mint

__all__ = [
    "ANONYMOUS",
    "AccessControl",
    "Principal",
    "ServerTls",
    "TokenVerifier",
    "build_access_control",
    "current_principal",
    "mint",
]
