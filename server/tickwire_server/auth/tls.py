"""ServerTls: TLS (and mutual TLS) server credentials that a SIGHUP re-reads.

grpc's dynamic server credentials ask for a new certificate configuration
at each handshake; `reload` reads the files again and hands the result to
the next handshake, so a rotated certificate is served without a restart
and without touching open connections.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import grpc

from tickwire_server.errors import ConfigError

log = logging.getLogger(__name__)


class ServerTls:
    """The certificate chain `cert` and its `key`; with `client_ca`, client certificates too."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None = None) -> None:
        self.cert = cert
        self.key = key
        self.client_ca = client_ca
        self._lock = threading.Lock()  # the fetcher runs on grpc's own threads
        self._pending: grpc.ServerCertificateConfiguration | None = None
        self._initial = self._load()

    def credentials(self) -> grpc.ServerCredentials:
        """Server credentials that pick up each `reload` at the next handshake."""
        return grpc.dynamic_ssl_server_credentials(
            self._initial,
            self._next_configuration,  # type: ignore[arg-type]  # None = no change, as grpc documents
            require_client_authentication=self.client_ca is not None,
        )

    def reload(self) -> bool:
        """Read the files again for the next handshakes; False (logged) when they do not load."""
        try:
            configuration = self._load()
        except ConfigError as exc:
            log.error("TLS certificate not reloaded, the current one stays: %s", exc)
            return False
        with self._lock:
            self._pending = configuration
        log.info("TLS certificate reloaded from %s", self.cert)
        return True

    def _next_configuration(self) -> grpc.ServerCertificateConfiguration | None:
        with self._lock:
            configuration, self._pending = self._pending, None
        return configuration  # None: keep the one in use

    def _load(self) -> grpc.ServerCertificateConfiguration:
        try:
            chain, key = self.cert.read_bytes(), self.key.read_bytes()
            roots = self.client_ca.read_bytes() if self.client_ca is not None else None
        except OSError as exc:
            raise ConfigError(f"cannot read the TLS files: {exc}") from exc
        for name, data in (("certificate", chain), ("key", key), ("client CA", roots)):
            if data is not None and b"-----BEGIN " not in data:
                raise ConfigError(f"the TLS {name} file is not PEM")
        return grpc.ssl_server_certificate_configuration([(key, chain)], root_certificates=roots)
