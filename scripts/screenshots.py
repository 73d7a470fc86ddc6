"""Replay the no_fencing and nonatomic_claim mutants and photograph their HTML reports for docs/.

    python scripts/screenshots.py [--out docs] [--keep DIR]

Needs Debian's chromium and chromium-driver (`apt-get install -y chromium chromium-driver`) and
selenium (the dev extras); starts an embedded PostgreSQL like `threadsync replay` does.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import chrome, full_page_png, missing, open_file  # noqa: E402

from harness.cli import main as threadsync  # noqa: E402

SCENARIOS = ("no_fencing", "nonatomic_claim")
TALLEST = 3000  # pixels: the shrunk scenarios' pages fit; a longer page is cut at the bottom


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where the PNGs go")
    parser.add_argument("--keep", type=Path, help="keep the reports in this folder")
    args = parser.parse_args()
    reason = missing()
    if reason:
        print(f"screenshots: {reason}", file=sys.stderr)
        return 2
    reports = args.keep or Path(tempfile.mkdtemp(prefix="threadsync-reports-"))
    paths = [str(ROOT / "scenarios" / "mutants" / f"{name}.json") for name in SCENARIOS]
    if threadsync(["replay", *paths, "--history", str(reports), "--quiet"]) != 0:
        print("screenshots: a scenario did not give its expected verdict", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with chrome() as driver:
        for name in SCENARIOS:
            open_file(driver, reports / f"{name}.timeline.html")
            png = args.out / f"report-{name}.png"
            full_page_png(driver, png, TALLEST)
            print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
