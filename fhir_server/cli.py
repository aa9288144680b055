"""`fhir-server`: serve the FHIR API, load data files, verify exported signatures."""

import argparse
import asyncio
import json
import logging
import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from fhir_server import shared_metrics
from fhir_server.cli_arguments import port, positive, resource_type
from fhir_server.package_commands import install_package, list_packages, package_directory
from fhir_server.setting_errors import setting_problems
from fhir_server.settings import LOG_LEVELS, Settings, log_level
from fhir_server.storage.reachability import MongoUnreachable, check_reachable
from fhir_server.token_command import dev_token, print_token

DEMO_USER, DEMO_NAME = "001085012345", "Nguyễn Văn An"


def _settings_help() -> str:
    lines = ["settings (environment variables):"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        lines.append(f"  FHIR_{name.upper():<22} {field.description} (default: {default})")
    # Read before the settings are (commands log from their start).
    lines.append(f"  {'FHIR_LOG_LEVEL':<27} Python logging level of the commands; under WARNING "
                 "serve writes no access log line (default: INFO)")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fhir-server",
        description="FHIR R4 health data exchange server on MongoDB.",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="serve the FHIR API at http://HOST:PORT/fhir",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=port, default=8080)
    serve.add_argument(
        "--data-dir",
        type=Path,
        help="server files (default: FHIR_DATA_DIR or "
        "./.fhir-data); the embedded MongoDB keeps its files in DATA_DIR/mongo",
    )
    serve.add_argument(
        "--dev", action="store_true", help="development mode: load the demo data set on first start"
    )
    serve.add_argument(
        "--workers",
        type=positive,
        default=len(os.sched_getaffinity(0)),
        help="server processes on the port, sharing one MongoDB (default: the cores this "
        "process may run on)",
    )

    load = commands.add_parser(
        "load",
        help="load Bundles (transaction/batch/collection) or NDJSON files, e.g. a Bulk Data "
        "export; report per resource type (exit 1 if any failed)",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    load.add_argument(
        "paths",
        metavar="PATH",
        nargs="+",
        type=Path,
        help="a file, or a directory: its *.ndjson, *.jsonl and *.json files (also .gz), "
        "sorted; resources keep their ids, so references between files resolve in any order",
    )
    load.add_argument("--data-dir", type=Path)
    load.add_argument(
        "--dev", action="store_true", help="sign with the development seal of the data dir"
    )

    verify = commands.add_parser(
        "verify",
        help="verify, offline, every Provenance signature in an export directory (NDJSON) "
        "or in saved searchset/collection Bundles (e.g. the pages of Patient/ID/$everything"
        "?includeProvenance=true) against the resources there (exit 0 only if every "
        "resource is covered by a signature that passes)",
    )
    verify.add_argument(
        "paths",
        metavar="PATH",
        nargs="+",
        type=Path,
        help="an export directory, a JSON file of one or more Bundles, or a directory of them",
    )
    verify.add_argument(
        "--trust",
        type=Path,
        action="append",
        default=[],
        help="PEM file of trusted CA certificates, e.g. the national root CA (repeatable)",
    )
    verify.add_argument(
        "--data-dir",
        type=Path,
        help="also trust the development root CA in this server data dir (made by serve --dev)",
    )

    token = commands.add_parser(
        "token",
        help="print a token of the development issuer (trusted by `serve --dev` only)",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    token.add_argument("--data-dir", type=Path)
    token.add_argument("--sub", required=True, help="the person's 12-digit personal ID")
    token.add_argument("--name", help="the person's name")
    token.add_argument("--scope", default="user/*.cruds", help="SMART scopes")
    token.add_argument(
        "--aud",
        help="the server's base URL (default: that of the server running on the data dir, "
        "else FHIR_BASE_URL, else http://127.0.0.1:8080/fhir)",
    )
    token.add_argument("--lifetime", type=positive, default=3600, help="seconds")
    token.add_argument("--patient", help="the launch patient's id (SMART `patient` claim), "
                       "to which patient/ scopes keep (default: the Patient holding --sub)")

    client = commands.add_parser(
        "client",
        help="SMART Backend Services clients",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    client_commands = client.add_subparsers(dest="client_command", required=True)
    register = client_commands.add_parser("register", help="register (or replace) a client")
    register.add_argument("--data-dir", type=Path)
    register.add_argument("--client-id", required=True)
    keys = register.add_mutually_exclusive_group(required=True)
    keys.add_argument("--jwks-file", type=Path, help="the client's public keys (JWKS)")
    keys.add_argument("--jwks-url", help="where the client publishes its JWKS")
    register.add_argument(
        "--scope", required=True, help="what it may be granted, e.g. 'system/*.rs'"
    )

    reindex = commands.add_parser(
        "reindex",
        help="recompute the search index of resources indexed with older search parameter "
        "definitions (resumable)",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    reindex.add_argument("--data-dir", type=Path)
    reindex.add_argument(
        "--type",
        dest="types",
        action="append",
        type=resource_type,
        help="only this resource type (repeatable)",
    )

    package = commands.add_parser(
        "package",
        help="FHIR packages (implementation guides): install one, list those installed",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    package_commands = package.add_subparsers(dest="package_command", required=True)
    install = package_commands.add_parser(
        "install",
        help="install a package (.tgz or unpacked directory) into FHIR_PACKAGES (default "
        "DATA_DIR/packages) once its dependencies are installed; the server reads it at its "
        "next start",
    )
    install.add_argument("source", metavar="FILE.tgz|DIR", type=Path)
    install.add_argument("--data-dir", type=Path)
    listing = package_commands.add_parser("list", help="list the installed packages")
    listing.add_argument("--data-dir", type=Path)
    return parser


def _settings(args: argparse.Namespace, **overrides) -> Settings:
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if getattr(args, "dev", False):
        overrides["dev"] = True
    return Settings(**overrides)


def _missing_path(paths: list[Path]) -> bool:
    """Whether a path given does not exist (said on stderr)."""
    if missing := [path for path in paths if not path.exists()]:
        print(f"{missing[0]} is not a file or directory", file=sys.stderr)
    return bool(missing)


async def _verify(args: argparse.Namespace) -> int:
    from fhir_server.errors import FhirError
    from fhir_server.services.dev_signing import development_anchor
    from fhir_server.services.export.verification import verify_files
    from fhir_server.services.verification import SignatureVerifier
    from signing.certificates import load_trust_anchors

    if _missing_path(args.paths):
        return 2
    trust = list(args.trust)
    if args.data_dir is not None:
        trust.append(development_anchor(args.data_dir))
    try:
        outcome = await verify_files(args.paths, SignatureVerifier(load_trust_anchors(trust)))
    except (OSError, EOFError, ValueError, FhirError) as error:
        print(f"cannot verify {' '.join(map(str, args.paths))}: {error}", file=sys.stderr)
        return 2
    for failure in outcome.failures:
        print(f"FAILED {failure}")
    if outcome.signatures == 0:
        print("FAILED: no Provenance signature to check", file=sys.stderr)
    print(
        f"{outcome.resources} resources, {outcome.signatures} signatures checked: "
        f"{outcome.passed} passed, {outcome.signatures - outcome.passed} did not; "
        f"{outcome.skipped} Provenances of versions not in the export skipped, "
        f"{outcome.unsigned} without a signature ignored"
    )
    return 0 if outcome.ok else 1


def _serve(args: argparse.Namespace) -> int:
    # Settled before the imports below, whose metrics open their files there.
    if (problem := shared_metrics.directory_problem()) is not None:
        print(f"cannot start: {problem}", file=sys.stderr)
        return 2
    settings = _settings(args)
    if args.workers > 1 and settings.metrics != "off":
        shared_metrics.share_between_workers()
    import uvicorn

    from fhir_server.api.header_timeout import with_client_deadlines
    from fhir_server.conformance.definitions import load
    from fhir_server.conformance.packages import PackageError
    from fhir_server.main import create_app, signing_problem
    from fhir_server.ready_banner import print_when_answering
    from fhir_server.running_server import already_serving, default_base_url, serve_workers
    from fhir_server.services.conformance_policy import (
        ConformancePolicy,
        ProfileConfigurationError,
    )

    if (serving := already_serving(settings.data_dir)) is not None:
        print(f"cannot start: {serving}", file=sys.stderr)
        return 2
    try:
        load(package_directory(settings))
        ConformancePolicy.configured(settings.required_profiles)
    except PackageError as error:
        print(f"cannot start: the installed packages are not usable: {error}", file=sys.stderr)
        return 2
    except ProfileConfigurationError as error:
        print(f"cannot start: {error}", file=sys.stderr)
        return 2
    if (problem := signing_problem(settings)) is not None:
        print(f"cannot start: {problem}", file=sys.stderr)
        return 2
    if settings.mongodb_uri is not None:
        check_reachable(str(settings.mongodb_uri), settings.mongodb_server_selection_timeout)
    if settings.base_url is None:
        settings.base_url = default_base_url(args.host, args.port)
    if settings.dev:
        base = settings.base_url
        token = dev_token(settings.data_dir, DEMO_USER, DEMO_NAME, "user/*.cruds", base, 8 * 3600)
        print_when_answering(args.host, args.port, (
            f"FHIR R4 server (development mode) at {base}\n"
            f"A token for {DEMO_NAME} ({DEMO_USER}), scopes user/*.cruds, valid 8 hours:\n"
            f"  export TOKEN={token}\n"
            f"  curl {base}/metadata\n"
            f"  curl -H \"Authorization: Bearer $TOKEN\" '{base}/Patient?_count=5'\n"
            f"  curl -H \"Authorization: Bearer $TOKEN\" '{base}/Patient?name=nguyen'\n"
            f"More tokens: fhir-server token --data-dir {settings.data_dir} --aud {base} "
            "--sub <12 digits> --scope 'user/*.rs'\n"
            "Stop it with Ctrl-C."), token)
    options: dict[str, Any] = {
        "log_level": (log_level() or "INFO").lower(),  # WARNING: no access log
        "timeout_keep_alive": settings.keep_alive_seconds,
        "limit_concurrency": settings.max_connections,
        # The client address is ours to work out (FHIR_TRUSTED_PROXIES): uvicorn would take
        # X-Forwarded-For from any local peer.
        "proxy_headers": False,
        "server_header": False,  # no `server: uvicorn`: what runs here is nobody's business
        "date_header": False,  # the app dates each response as it starts (api/dates.py)
    }
    if args.workers > 1:
        return serve_workers(settings, args.workers, args.host, args.port, **options)
    http = with_client_deadlines(settings.header_timeout_seconds, settings.response_stall_seconds)
    uvicorn.run(create_app(settings, dated=True), host=args.host, port=args.port, http=http,
                **options)
    return 0


async def _register_client(args: argparse.Namespace) -> int:
    from fhir_server.auth.client_keys import registration_problem
    from fhir_server.conformance import definitions
    from fhir_server.conformance.packages import installation_directory
    from fhir_server.running_server import default_base_url
    from fhir_server.search.index import index_plan
    from fhir_server.services.token_service import ungrantable
    from fhir_server.storage.clients import ClientStore
    from fhir_server.storage.database import Database

    client: dict[str, Any] = {"_id": args.client_id, "scope": args.scope}
    if args.jwks_file:
        try:
            client["jwks"] = json.loads(args.jwks_file.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as error:
            print(f"{args.jwks_file}: not a readable JSON JWKS: {error}", file=sys.stderr)
            return 2
    else:
        client["jwks_url"] = args.jwks_url
    if problem := registration_problem(args.client_id, args.scope, client.get("jwks"),
                                       client.get("jwks_url")):
        print(f"cannot register the client: {problem}", file=sys.stderr)
        return 2
    async with _mongodb(args) as settings:
        # The scopes' types and search parameters are the server's, its packages' included.
        definitions.load(installation_directory(settings.packages, settings.data_dir))
        database = Database(str(settings.mongodb_uri), settings.database, index_plan)
        try:
            base = settings.base_url or default_base_url("127.0.0.1", 8080)
            if problem := await ungrantable(database.store(), base, args.scope):
                print(f"cannot register the client: --scope: {problem}", file=sys.stderr)
                return 2
            await ClientStore(database.db).register(client)
        finally:
            await database.close()
    print(f"client {args.client_id} registered with scopes {args.scope}")
    return 0


@asynccontextmanager
async def _mongodb(args: argparse.Namespace):
    """The settings, their MongoDB the configured one, or the embedded one of the data dir (the
    running server's, or one started for this command)."""
    from fhir_server.embedded_mongo import EmbeddedMongo, running_instance_uri
    from fhir_server.running_server import running_required_profiles

    settings = _settings(args)
    embedded = None
    if settings.mongodb_uri is not None:
        await asyncio.to_thread(check_reachable, str(settings.mongodb_uri),
                                settings.mongodb_server_selection_timeout)
    else:
        settings.mongodb_uri = running_instance_uri(settings.data_dir)
        # What is written into a running server's database conforms as its writes must.
        if not settings.required_profiles:
            settings.required_profiles = running_required_profiles(settings.data_dir)
    if settings.mongodb_uri is None:
        embedded = EmbeddedMongo(settings.data_dir)
        settings.mongodb_uri = await asyncio.to_thread(embedded.start)
    try:
        yield settings
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


@asynccontextmanager
async def _services(args: argparse.Namespace):
    """The services on `_mongodb`'s MongoDB."""
    from fhir_server.main import services_for

    async with _mongodb(args) as settings, services_for(settings) as services:
        yield services


async def _load(args: argparse.Namespace) -> int:
    from fhir_server.services.data_files import manifests
    from fhir_server.services.export.verification import export_bases, section_files
    from fhir_server.services.loading import Loading

    if _missing_path(args.paths):  # before a mongod is started for nothing
        return 2
    async with _services(args) as (_, processor):
        found = manifests(args.paths)
        loading = Loading(processor, bases=export_bases(found),
                          deletions=section_files(found, "deleted"),
                          errors=section_files(found, "error"))
        for path in loading.in_order(args.paths):
            report = await loading.load_file(path)
            print(f"{path}: {report.summary()}", flush=True)
        if loading.deferred:
            print("retrying what failed, now that the rest is loaded", flush=True)
        total = await loading.finish()
    print(f"\n{total.table()}")
    return 0 if total.ok else 1


async def _reindex(args: argparse.Namespace) -> int:
    from fhir_server.services.reindex import reindex

    async with _services(args) as (service, _):
        counts = await reindex(service.database, args.types or None)
    for kind, count in counts.items():
        print(f"{kind}: {count} re-indexed")
    return 0


def main(argv: list[str] | None = None) -> int:
    if (level := log_level()) is None:
        print(f"cannot start: FHIR_LOG_LEVEL: not one of {', '.join(LOG_LEVELS)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=level)
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except MongoUnreachable as error:
        print(f"cannot start: {error} (FHIR_MONGODB_URI)", file=sys.stderr)
        return 1
    except (ValidationError, SettingsError) as error:  # of the settings: not a traceback
        for line in setting_problems(error):
            print(line, file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(args)
    if args.command == "token":
        return print_token(args, _settings(args))
    if args.command == "package":
        if args.package_command == "install":
            return install_package(_settings(args), args.source)
        return list_packages(_settings(args))
    commands = {
        "load": _load,
        "reindex": _reindex,
        "client": _register_client,
        "verify": _verify,
    }
    return asyncio.run(commands[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
