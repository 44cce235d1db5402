"""bench/report.py: the figures every benchmark records, their verdicts against targets, and the CSV trend."""

from __future__ import annotations

import csv

import pytest

from bench import report


@pytest.fixture
def results(tmp_path, monkeypatch):
    path = tmp_path / "results.csv"
    monkeypatch.setenv("BENCH_CSV", str(path))
    monkeypatch.setenv("BENCH_RUN", "run-1")
    monkeypatch.setattr(report, "_recorded", [])
    monkeypatch.setattr(report, "_run_id", None)
    return path


def test_figures_are_judged_against_their_targets_and_appended_to_the_csv(results):
    report.record("inventory_bench", "catalog p50 ratio", 1.38, "x", target=("<=", 2))
    report.record("event_lag_bench", "lag p99", 31.5, "ms", target=("<", 25))
    report.record("inventory_bench", "products created", 2100, "/s")

    rows = list(csv.DictReader(open(results, encoding="utf-8")))
    assert [(r["run"], r["figure"], r["target"], r["verdict"]) for r in rows] == [
        ("run-1", "catalog p50 ratio", "<= 2x", "ok"),
        ("run-1", "lag p99", "< 25 ms", "MISSED"),
        ("run-1", "products created", "", ""),
    ]
    assert float(rows[1]["value"]) == 31.5


def test_one_table_per_run_with_the_missed_targets_counted(results, capsys, monkeypatch):
    report.record("a_bench", "x", 1, "ms", target=("<=", 2))
    monkeypatch.setenv("BENCH_RUN", "run-2")
    monkeypatch.setattr(report, "_run_id", None)
    report.record("b_bench", "y", 3, "ms", target=("<=", 2))

    assert report.main(["--run", "run-1"]) == 0
    out = capsys.readouterr().out
    assert "a_bench" in out and "b_bench" not in out and "1 targets met, 0 missed" in out
    assert report.main(["--strict"]) == 1  # the latest run (run-2) missed its target
    assert "b_bench" in capsys.readouterr().out


def test_an_unknown_target_operator_is_refused(results):
    with pytest.raises(ValueError):
        report.record("a_bench", "x", 1, "ms", target=("about", 2))
    assert not results.exists()
