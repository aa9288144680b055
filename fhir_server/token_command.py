"""Tokens of the development issuer, whose key is in the data dir: the one `serve --dev`
prints, and `fhir-server token`'s."""

import argparse
import re
import sys
from pathlib import Path

from fhir_server.conformance.primitives import ID_REGEX
from fhir_server.settings import Settings


def dev_token(
    data_dir: Path, subject: str, name: str | None, scope: str, audience: str, lifetime: int,
    patient: str | None = None,
) -> str:
    from fhir_server.auth.keys import SigningKey, mint_token
    from fhir_server.services.authentication import DEV_ISSUER, dev_key_path

    key = SigningKey.load_or_create(dev_key_path(data_dir))
    return mint_token(key, DEV_ISSUER, audience, subject, scope, lifetime, name=name,
                      extra={"patient": patient} if patient else None)


def print_token(args: argparse.Namespace, settings: Settings) -> int:
    """`fhir-server token`: print a token of the development issuer; exit status."""
    from fhir_server.auth.personal_id import validate_personal_id
    from fhir_server.running_server import running_base_url

    try:
        validate_personal_id(args.sub)
    except ValueError as bad:
        print(f"--sub: {bad}", file=sys.stderr)
        return 2
    if args.patient is not None and not re.fullmatch(ID_REGEX, args.patient):
        print(f"--patient: {args.patient!r} is not a Patient id", file=sys.stderr)
        return 2
    audience = args.aud or running_base_url(settings.data_dir)
    if audience is None:
        audience = settings.base_url or "http://127.0.0.1:8080/fhir"
        print(f"no server is running on {settings.data_dir}: the token is for {audience} "
              "(--aud names another server)", file=sys.stderr)
    print(dev_token(settings.data_dir, args.sub, args.name, args.scope, audience, args.lifetime,
                     args.patient))
    return 0
