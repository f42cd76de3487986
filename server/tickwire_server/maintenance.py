"""Maintenance services served beside the business ones: gRPC health checking and reflection."""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def add_maintenance_services(server: grpc.aio.Server, *services: str) -> Any:
    """Register health checking and reflection on `server` for the business `services`.

    Reflection lists `services` with health and reflection themselves, so
    grpcurl-style tools need no .proto files. Returns the health servicer
    (grpc_health's asyncio one, which its type hints do not cover): the
    caller awaits `set(service, status)` as statuses change (the overall
    status, service "", starts SERVING).
    """
    servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    reflection.enable_server_reflection(
        (*services, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return servicer
