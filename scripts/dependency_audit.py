"""Dependency audit (`make audit`): pip-audit over the pinned requirements, reported clearly.

pip-audit asks a vulnerability database (PyPI's JSON API / OSV) about every pinned package. On an
offline machine it cannot: it then either fails with a connection error or, worse, skips every
package ("Dependency not found on PyPI and could not be audited") and still says "No known
vulnerabilities found". This wrapper tells those apart:

- exit 0, "OK"      every package was looked up and none has a known vulnerability;
- exit 1, "FOUND"   at least one package has a known vulnerability (listed with its fix versions);
- exit 0, "WARNING" the database could not be reached (or answered for too few packages): nothing
                    is claimed about vulnerabilities; run it again with network access.
- exit 2            pip-audit itself is missing or misused.

Usage: python scripts/dependency_audit.py [-r requirements.txt] [--timeout 300] [--pip-audit CMD]
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

UNREACHABLE_MARKERS = (
    "connectionerror", "connection error", "max retries exceeded", "failed to establish a new connection",
    "name or service not known", "temporary failure in name resolution", "network is unreachable",
    "connection refused", "timed out", "read timed out", "ssl", "proxyerror",
)


@dataclass
class Outcome:
    status: str  # ok | found | unreachable | error
    exit_code: int
    message: str
    vulnerable: list[str] = field(default_factory=list)


def summarise(returncode: int, stdout: str, stderr: str) -> Outcome:
    """Turn one pip-audit run (`-f json`) into a clear outcome."""
    try:
        report = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        report = None
    text = f"{stdout}\n{stderr}".lower()
    if report is None or not isinstance(report, dict):
        if any(marker in text for marker in UNREACHABLE_MARKERS):
            return Outcome("unreachable", 0, _unreachable("pip-audit could not connect: " + _last_line(stderr)))
        return Outcome("error", 2, "pip-audit failed without a report: " + (_last_line(stderr) or f"exit {returncode}"))
    dependencies = [d for d in report.get("dependencies", []) if isinstance(d, dict)]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    vulnerable = [
        f"{d['name']} {d.get('version', '?')}: "
        + ", ".join(f"{v.get('id')} (fix: {', '.join(v.get('fix_versions') or []) or 'none'})" for v in d.get("vulns", []))
        for d in audited
        if d.get("vulns")
    ]
    if vulnerable:
        return Outcome("found", 1, f"FOUND: {len(vulnerable)} package(s) with known vulnerabilities", vulnerable)
    if not dependencies or len(skipped) > len(dependencies) // 2:
        return Outcome("unreachable", 0, _unreachable(
            f"{len(skipped)} of {len(dependencies)} packages could not be looked up "
            f"(e.g. {skipped[0]['skip_reason'] if skipped else 'no packages in the report'})"))
    note = f"; {len(skipped)} package(s) not audited (not on PyPI)" if skipped else ""
    return Outcome("ok", 0, f"OK: {len(audited)} packages audited, no known vulnerabilities{note}")


def _unreachable(reason: str) -> str:
    return (
        "WARNING: dependency audit NOT done: the vulnerability database could not be reached "
        f"(offline machine?). {reason}. Nothing is claimed about known vulnerabilities; run "
        "`make audit` again where pypi.org / osv.dev are reachable."
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--requirements", default="requirements.txt")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--pip-audit", default="", help="command to run instead of the pip-audit next to Python")
    args = parser.parse_args(argv)
    if args.pip_audit:
        command = shlex.split(args.pip_audit)
    else:
        local = Path(sys.executable).with_name("pip-audit")
        found = str(local) if local.exists() else shutil.which("pip-audit")
        if found is None:
            print("ERROR: pip-audit is not installed (make setup installs it from requirements.txt)")
            return 2
        command = [found]
    # Every version is pinned: audit exactly these, without resolving (and downloading) anything.
    command += ["-r", args.requirements, "--no-deps", "--disable-pip", "--progress-spinner", "off", "-f", "json"]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        print(_unreachable(f"pip-audit took longer than {args.timeout:.0f} s"))
        return 0
    except OSError as exc:
        print(f"ERROR: could not run pip-audit: {exc}")
        return 2
    outcome = summarise(run.returncode, run.stdout, run.stderr)
    print(outcome.message)
    for line in outcome.vulnerable:
        print("  " + line)
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
