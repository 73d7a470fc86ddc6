"""HMAC-signed JWTs (HS256/384/512) with the standard library: signing for tests and keys,
verifying as PostgREST does (src/PostgREST/Auth/Jwt.hs), with its error codes and messages."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from harness.supabase.rest._errors import jwt_claims, jwt_decode

# Supabase local development's default secret and the CLI's well-known demo keys signed with it
# (`supabase status`); they expire in 2032.
JWT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
ANON_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6ImFub24iLCJleHAi"
    "OjE5ODM4MTI5OTZ9.CRXP1A7WOeoJeXxjNni43kdQwgnWNReilDMblYTn_I0"
)
SERVICE_ROLE_KEY = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJzdXBhYmFzZS1kZW1vIiwicm9sZSI6InNlcnZpY2Vfcm9s"
    "ZSIsImV4cCI6MTk4MzgxMjk5Nn0.EGIM96RAZx35lJzdJsyH-qQwv8Hdp7fsn3W0YpN81IU"
)

_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
# PostgREST tolerates this much clock skew on exp, nbf and iat.
_SKEW_SECONDS = 30


def sign(claims: Mapping[str, Any], secret: str, alg: str = "HS256") -> str:
    """A compact JWT carrying `claims`, signed with `secret`."""
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(dict(claims), separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(secret.encode(), signing_input, _HASHES[alg]).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def verify(token: str, secret: str, now: float) -> dict[str, Any]:
    """The claims of a token signed with `secret` and valid at `now` (Unix seconds); raises
    Refusal (401 PGRST301 or PGRST303) as PostgREST answers a bad one."""
    claims = _verified.get((token, secret))
    if claims is None:
        claims = _verify_signature(token, secret)
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[(token, secret)] = claims
    _check_claims(claims, now)
    return dict(claims)


# A function sends the same key with every request: its signature is checked once (the times
# in its claims are checked every time).
_verified: dict[tuple[str, str], dict[str, Any]] = {}
_VERIFIED_MAX = 256


def _verify_signature(token: str, secret: str) -> dict[str, Any]:
    if token == "":
        raise jwt_decode("Empty JWT is sent in Authorization header")
    parts = token.split(".")
    if len(parts) != 3:
        raise jwt_decode(f"Expected 3 parts in JWT; got {len(parts)}")
    try:
        header = json.loads(_unb64(parts[0]))
    except (ValueError, binascii.Error):
        raise jwt_decode("JWT couldn't be decoded") from None
    alg = header.get("alg") if isinstance(header, dict) else None
    digest = _HASHES.get(alg) if isinstance(alg, str) else None
    if digest is None:
        # A symmetric secret is no key for any other algorithm (jose's findKeys).
        raise jwt_decode(
            "No suitable key or wrong key type", "No suitable key was found to decode the JWT"
        )
    expected = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), digest).digest()
    try:
        given = _unb64(parts[2])
    except (ValueError, binascii.Error):
        given = b""
    if not hmac.compare_digest(expected, given):
        raise jwt_decode(
            "No suitable key or wrong key type", "None of the keys was able to decode the JWT"
        )
    try:
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, binascii.Error):
        claims = None
    if not isinstance(claims, dict):
        raise jwt_claims("Parsing claims failed")
    return claims


def role_of(claims: Mapping[str, Any], anon_role: str = "anon") -> str:
    """The `role` claim (a non-string is taken as its JSON text, as PostgREST does), else anon."""
    if "role" not in claims:
        return anon_role
    role = claims["role"]
    return role if isinstance(role, str) else json.dumps(role, separators=(",", ":"))


def _check_claims(claims: Mapping[str, Any], now: float) -> None:
    # In PostgREST's order: the first failing check is the one reported.
    checks = (
        ("exp", "The JWT 'exp' claim must be a number", "JWT expired"),
        ("nbf", "The JWT 'nbf' claim must be a number", "JWT not yet valid"),
        ("iat", "The JWT 'iat' claim must be a number", "JWT issued at future"),
    )
    for key, not_number, failed in checks:
        if key not in claims or claims[key] is None:
            continue
        value = claims[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise jwt_claims(not_number)
        late = key == "exp" and now - _SKEW_SECONDS > value
        early = key != "exp" and now + _SKEW_SECONDS < value
        if late or early:
            raise jwt_claims(failed)
    aud = claims.get("aud")
    valid_aud = (
        aud is None
        or isinstance(aud, str)
        or (isinstance(aud, list) and all(isinstance(a, str) for a in aud))
    )
    if not valid_aud:
        raise jwt_claims("The JWT 'aud' claim must be a string or an array of strings")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
