"""`fhir-server package install` and `package list`: implementation guides (FHIR NPM
packages) installed where the server reads them at its next start."""

import sys
from pathlib import Path

from fhir_server.settings import Settings


def package_directory(settings: Settings) -> Path:
    """Where packages are installed: FHIR_PACKAGES, else DATA_DIR/packages."""
    from fhir_server.conformance.packages import installation_directory

    return installation_directory(settings.packages, settings.data_dir)


def install_package(settings: Settings, source: Path) -> int:
    from fhir_server.conformance.package_install import install
    from fhir_server.conformance.packages import PackageError

    directory = package_directory(settings)
    if not source.exists():
        print(f"{source} is not a file or directory", file=sys.stderr)
        return 2
    try:
        done = install(source, directory)
    except PackageError as error:
        print(f"cannot install {source}: {error}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{n} {kind}" for kind, n in sorted(done.definitions.items()))
    print(f"installed {done.package.label} into {done.path} ({counts or 'no definitions'})")
    for label in done.replaced:
        print(f"  replaced {label}")
    for url, reason in sorted(done.profile_errors.items()):
        print(f"  profile {url} cannot be used: {reason}")
    for url, warnings in sorted(done.profile_warnings.items()):
        print(f"  profile {url}: {'; '.join(warnings)}")
    print("restart the server to use it")
    return 0


def list_packages(settings: Settings) -> int:
    from fhir_server.conformance.packages import PackageError, installed_packages

    try:
        packages = installed_packages(package_directory(settings))
    except PackageError as error:
        print(f"the installed packages are not usable: {error}", file=sys.stderr)
        return 1
    for package in packages:
        needs = ", ".join(f"{k}#{v}" for k, v in package.dependencies.items()) or "nothing"
        print(f"{package.label}  {package.location}  (needs {needs})")
    return 0
