"""`fhir-server`: serve the FHIR API, load data files."""

import argparse
import asyncio
import logging
import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path

from fhir_server.conformance.registry import RESOURCE_TYPES
from fhir_server.settings import Settings


def _settings_help() -> str:
    lines = ["settings (environment variables):"]
    for name, field in Settings.model_fields.items():
        lines.append(f"  FHIR_{name.upper():<22} {field.description} (default: {field.default})")
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
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--data-dir",
        type=Path,
        help="server files (default: FHIR_DATA_DIR or "
        "./.fhir-data); the embedded MongoDB keeps its files in DATA_DIR/mongo",
    )
    serve.add_argument(
        "--dev", action="store_true", help="development mode: load the demo data set on first start"
    )

    load = commands.add_parser(
        "load",
        help="load Bundles (transaction/batch/collection) or NDJSON files",
        epilog=_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    load.add_argument("files", nargs="+", type=Path)
    load.add_argument("--data-dir", type=Path)

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
        choices=RESOURCE_TYPES,
        help="only this resource type (repeatable)",
    )
    return parser


def _settings(args: argparse.Namespace, **overrides) -> Settings:
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    return Settings(**overrides)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from fhir_server.main import create_app

    overrides = {"dev": True} if args.dev else {}
    settings = _settings(args, **overrides)
    if settings.base_url is None:
        settings.base_url = f"http://{args.host}:{args.port}/fhir"
    if settings.dev:
        base = settings.base_url
        print(
            f"FHIR R4 server (development mode) at {base}\n"
            f"  curl {base}/metadata\n"
            f"  curl '{base}/Patient?_count=5'\n"
            f"  curl {base}/_history\n"
            "Stop it with Ctrl-C.",
            flush=True,
        )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


@asynccontextmanager
async def _services(args: argparse.Namespace):
    """The services on the configured MongoDB, or on the embedded one of the data dir (the
    running server's, or one started for this command)."""
    from fhir_server.embedded_mongo import EmbeddedMongo, running_instance_uri
    from fhir_server.main import services_for

    settings = _settings(args)
    embedded = None
    if settings.mongodb_uri is None:
        settings.mongodb_uri = running_instance_uri(settings.data_dir)
    if settings.mongodb_uri is None:
        embedded = EmbeddedMongo(settings.data_dir)
        settings.mongodb_uri = await asyncio.to_thread(embedded.start)
    try:
        async with services_for(settings) as services:
            yield services
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _load(args: argparse.Namespace) -> int:
    from fhir_server.services.loading import load_file

    failed = False
    async with _services(args) as (_, processor):
        for path in args.files:
            report = await load_file(processor, path, base="")
            print(f"{path}: {dict(report.statuses)}")
            for error in report.errors:
                print(f"  {error}", file=sys.stderr)
            failed |= not report.ok
    return 1 if failed else 0


async def _reindex(args: argparse.Namespace) -> int:
    from fhir_server.services.reindex import reindex

    async with _services(args) as (service, _):
        counts = await reindex(service.database, args.types or None)
    for kind, count in counts.items():
        print(f"{kind}: {count} re-indexed")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=os.environ.get("FHIR_LOG_LEVEL", "INFO"))
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    return asyncio.run(_load(args) if args.command == "load" else _reindex(args))


if __name__ == "__main__":
    sys.exit(main())
