"""axe-core, the accessibility engine, for the browser tests: from the npm registry, pinned by
tests/e2e/axe/package-lock.json and installed there with `npm ci` the first time a test needs it."""

from __future__ import annotations

import fcntl
import functools
import shutil
import subprocess
from pathlib import Path

AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"

# Every rule axe runs by default (WCAG 2.0-2.2 A and AA and best practices), results as short lines.
RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((violation) =>
    `${violation.id} (${violation.impact}): ${violation.help} - ` +
    violation.nodes.slice(0, 4).map((node) => node.target.join(" ")).join(", "));
}"""


@functools.cache
def axe_source() -> str:
    """The axe-core script, installed from the lock file on first use (needs npm and the npm registry)."""
    with open(AXE_DIR / ".install-lock", "w") as lock:  # test processes running at once install it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not AXE_SCRIPT.is_file():
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError("axe-core is not installed and npm is missing: apt-get install npm")
            command = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"]
            subprocess.run(command, cwd=AXE_DIR, check=True, timeout=300, capture_output=True)
    return AXE_SCRIPT.read_text(encoding="utf-8")


def violations(page) -> list[str]:
    """What axe finds wrong with the page as it is now (the engine is added through the DevTools protocol, which
    the page's Content-Security-Policy does not restrict)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source())
    return page.evaluate(RUN_AXE)
