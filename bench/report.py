"""Every benchmark's figures in one table, and their trend in a CSV.

A benchmark records each figure it measured with `record()` (name, value, unit, and the target it is held to,
if any). Run alone, it prints a table of its own figures at the end; under `make bench` (which sets BENCH_RUN)
every benchmark records into the same run and `python bench/report.py --run <id>` prints one table of them all.
Every figure is also appended to `var/bench/results.csv` (BENCH_CSV overrides the path; `var/` is not in git):
one row per figure with the run, the time, the commit and the host, so the trend over commits is visible.

    .venv/bin/python bench/report.py                 # the latest run's table
    .venv/bin/python bench/report.py --run RUN_ID    # one run's table
    .venv/bin/python bench/report.py --trend FIGURE  # one figure over every run recorded

A target is written as an operator and a limit: `("<=", 25)` (at most), `(">=", 0.5)` (at least),
`("==", 30)`. A ratio is a figure like any other, in unit "x" (e.g. p50 at 50,000 products / p50 at 500).
"""

from __future__ import annotations

import atexit
import csv
import datetime as _dt
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ["run", "at", "commit", "host", "bench", "figure", "value", "unit", "target", "verdict"]
OPERATORS = {"<=": lambda v, t: v <= t, "<": lambda v, t: v < t, ">=": lambda v, t: v >= t,
             ">": lambda v, t: v > t, "==": lambda v, t: v == t}


@dataclass(frozen=True)
class Figure:
    bench: str
    figure: str
    value: float
    unit: str
    target: str  # "<= 25" or ""
    verdict: str  # "ok", "MISSED" or "" (no target)


_recorded: list[Figure] = []
_run_id: str | None = None


def csv_path() -> Path:
    return Path(os.environ.get("BENCH_CSV") or ROOT / "var" / "bench" / "results.csv")


def run_id() -> str:
    """BENCH_RUN when `make bench` set it (every benchmark of the run shares it), else one of this process's."""
    global _run_id
    if _run_id is None:
        _run_id = os.environ.get("BENCH_RUN") or _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ") + f"-{os.getpid()}"
    return _run_id


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("+" if dirty else "") if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def verdict(value: float, target: tuple[str, float] | None) -> str:
    if target is None:
        return ""
    operator, limit = target
    return "ok" if OPERATORS[operator](value, limit) else "MISSED"


def _format_target(target: tuple[str, float] | None, unit: str) -> str:
    if target is None:
        return ""
    operator, limit = target
    return f"{operator} {limit:g}" + ("x" if unit == "x" else f" {unit}" if unit else "")


def record(bench: str, figure: str, value: float, unit: str = "", *, target: tuple[str, float] | None = None
           ) -> Figure:
    """Record one figure of `bench` (its script's name without .py) and append it to the CSV. Returns it."""
    if target is not None and target[0] not in OPERATORS:
        raise ValueError(f"Unknown target operator {target[0]!r}; use one of {sorted(OPERATORS)}.")
    item = Figure(bench=bench, figure=figure, value=float(value), unit=unit, target=_format_target(target, unit),
                  verdict=verdict(float(value), target))
    if not _recorded and not os.environ.get("BENCH_RUN"):
        atexit.register(print_table)  # run alone: its own table at the end
    _recorded.append(item)
    path = csv_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        if new:
            writer.writerow(COLUMNS)
        writer.writerow([run_id(), _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), _commit(),
                         socket.gethostname(), item.bench, item.figure, f"{item.value:.6g}", item.unit, item.target,
                         item.verdict])
    return item


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, or infinity when the denominator is 0."""
    return numerator / denominator if denominator else float("inf")


def _value(figure: Figure) -> str:
    if figure.unit == "x":
        return f"{figure.value:.2f}x"
    text = f"{figure.value:,.0f}" if abs(figure.value) >= 1000 or figure.value == int(figure.value) \
        else f"{figure.value:.2f}"
    return f"{text} {figure.unit}".rstrip()


def table(figures: list[Figure]) -> str:
    rows = [("bench", "figure", "value", "target", "verdict")]
    rows += [(f.bench, f.figure, _value(f), f.target, f.verdict) for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.rjust(widths[i]) if i == 2 else cell.ljust(widths[i])
                               for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    missed = sum(1 for f in figures if f.verdict == "MISSED")
    held = sum(1 for f in figures if f.verdict == "ok")
    lines.append(f"{len(figures)} figures, {held} targets met, {missed} missed")
    return "\n".join(lines)


def print_table(figures: list[Figure] | None = None) -> None:
    figures = _recorded if figures is None else figures
    if figures:
        print(f"\nfigures (run {run_id()}; appended to {csv_path()}):")
        print(table(figures), flush=True)


def read(path: Path | None = None) -> list[dict[str, str]]:
    path = path or csv_path()
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as source:
        return list(csv.DictReader(source))


def _figure_of(row: dict[str, str]) -> Figure:
    return Figure(bench=row["bench"], figure=row["figure"], value=float(row["value"]), unit=row["unit"],
                  target=row["target"], verdict=row["verdict"])


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="The run to print (default: the latest in the CSV).")
    parser.add_argument("--trend", metavar="FIGURE", help="One figure (as printed) across every run.")
    parser.add_argument("--strict", action="store_true", help="Exit 1 when a target was missed.")
    args = parser.parse_args(argv)
    rows = read()
    if not rows:
        print(f"No figures recorded yet in {csv_path()}.")
        return 0
    if args.trend:
        print(f"{'run':<26} {'commit':<10} {'bench':<22} value")
        for row in rows:
            if row["figure"] == args.trend:
                print(f"{row['run']:<26} {row['commit']:<10} {row['bench']:<22} {_value(_figure_of(row))}"
                      f" {row['verdict']}".rstrip())
        return 0
    run = args.run or rows[-1]["run"]
    figures = [_figure_of(row) for row in rows if row["run"] == run]
    if not figures:
        print(f"No figures for run {run!r} in {csv_path()}.")
        return 1
    print(f"run {run} (commit {next(r['commit'] for r in rows if r['run'] == run)}); every run: {csv_path()}")
    print(table(figures))
    return 1 if args.strict and any(f.verdict == "MISSED" for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
