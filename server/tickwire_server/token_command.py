"""`tickwire-server token`: mint a development token signed with the configured HS256 secret."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from tickwire_server.auth import mint
from tickwire_server.config import MIN_HMAC_SECRET, Settings

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> float:
    """Seconds in "90", "90s", "15m", "1h" or "2d"."""
    match = _DURATION.fullmatch(text.lower())
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 15m, 1h, 2d")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tickwire-server token",
        description="Print an HS256 token signed with TICKWIRE_JWT_SECRET, for development: "
        "production tokens come from your identity provider.",
    )
    parser.add_argument("--subject", required=True, help="the token's sub")
    parser.add_argument(
        "--roles", default="read", help="comma-separated roles (default: read; admin for control)"
    )
    parser.add_argument("--ttl", type=duration, default=3600.0, help="lifetime: 90s, 15m, 1h, 2d")
    return parser


def main(argv: Sequence[str]) -> int:
    """Print a token for the settings in the environment (issuer, audience, roles claim)."""
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            print(f"tickwire-server token: {error['msg']}", file=sys.stderr)
        return 2
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret is not None else ""
    if len(secret.encode()) < MIN_HMAC_SECRET:
        print(
            f"tickwire-server token: set TICKWIRE_JWT_SECRET (at least {MIN_HMAC_SECRET} bytes) "
            "in the environment or .env to sign with",
            file=sys.stderr,
        )
        return 2
    roles = [role.strip() for role in args.roles.split(",") if role.strip()]
    token = mint(
        secret,
        args.subject,
        roles,
        ttl=args.ttl,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        roles_claim=settings.jwt_roles_claim,
    )
    print(token)
    return 0
