"""Exit 0 when an installed Python distribution satisfies a simple version rule, else 1.

Used by the Makefile so `make tools` installs only what is missing or wrong:
    check-version.py moto ">=5.2.2"      at least this version
    check-version.py cfn-lint "==1.51"   this release series (1.51.x)
"""
import importlib.metadata
import sys


def parse(text):
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def main(name, rule):
    try:
        installed = parse(importlib.metadata.version(name))
    except importlib.metadata.PackageNotFoundError:
        return 1
    if rule.startswith(">="):
        return 0 if installed >= parse(rule[2:]) else 1
    if rule.startswith("=="):
        wanted = parse(rule[2:])
        return 0 if installed[: len(wanted)] == wanted else 1
    raise SystemExit(f"unknown rule {rule}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
