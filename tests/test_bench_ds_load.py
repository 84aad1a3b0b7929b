"""bench/ds_load.py --quick runs end to end and reports well-formed results.

Only that it works is checked here (a DS started, real groups set up, messages sent and
delivered through it, every number present); timings are the benchmark's to report,
never a test's to assert."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ROW_NUMBERS = (
    "offered_per_s",
    "accepted_per_s",
    "deliveries_per_s",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "answer_p99_ms",
    "ds_cpu_pct",
    "ds_cpu_ms_per_send",
    "ds_rss_mb",
    "generator_cpu_pct",
)


def test_quick_run_reports_every_rate() -> None:
    out = subprocess.run(
        [sys.executable, "bench/ds_load.py", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    [config] = report["configs"]
    assert config["store"] == "sqlite"
    assert config["ds_processes"] == 1
    assert config["group_size"] == 10
    assert config["delivery"] in ("push", "long-poll")
    rows = config["rows"]
    assert rows, "no rate was run"
    for row in rows:
        # Every scheduled send was accepted or counted as an error.
        send_errors = sum(n for what, n in row["errors"].items() if what.startswith("send:"))
        assert row["accepted"] + send_errors == row["messages"]
        assert row["accepted"] > 0
        assert row["deliveries"] > 0
        # The DS must never hand a device the same message twice.
        assert row["duplicates"] == 0
        for key in ROW_NUMBERS:
            assert isinstance(row[key], int | float) and math.isfinite(row[key]), key
        assert row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert isinstance(row["sustained"], bool)
    assert config["saturation_sends_per_s"] is None or config[
        "saturation_sends_per_s"
    ] in config_rates(rows)


def config_rates(rows: list[dict[str, object]]) -> list[object]:
    return [r["offered_per_s"] for r in rows]
