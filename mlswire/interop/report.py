"""A Markdown summary of interop results files (the official results JSON): per
config and script, cases passed, not applicable (a client answered UNIMPLEMENTED, or
the clients share no suite for a suite-changing reinit) and failed, and the distinct
reasons, for docs/INTEROP.md."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from .runner import UNIMPLEMENTED

# The runner's own "nothing to run" (RUNNER.md §3.19: the assigned clients share no
# second suite to reinitialize into): not a disagreement either.
NO_SUITE = "no remaining supported ciphersuite"

# Handles, ids, lengths and offsets vary from case to case; the reason does not.
# RFC section references stay as they are.
_VARIABLE = re.compile(r"RFC \d+ §[\d.]+|\b[0-9a-f]{16,}\b|\d+")


def _reason(error: str) -> str:
    return _VARIABLE.sub(lambda m: m[0] if m[0].startswith("RFC") else "N", error)


def _classify(case: dict[str, Any]) -> tuple[str, str | None]:
    """("passed" | "n/a" | "failed", the reason)."""
    error = case.get("error")
    if "failed_step" not in case:
        return "passed", None
    if error is not None and error.startswith(UNIMPLEMENTED):
        return "n/a", "n/a: " + _reason(error[len(UNIMPLEMENTED) :])
    if error == NO_SUITE:
        return "n/a", "n/a: " + NO_SUITE
    return "failed", "failed: " + _reason(str(error))


def totals(groups: dict[str, list[Path]]) -> str:
    """One row per named group of results files: cases, passed, n/a, failed."""
    lines = ["| run | cases | passed | n/a | failed |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, paths in groups.items():
        row = Counter[str]()
        for path in paths:
            for cases in json.loads(path.read_text())["scripts"].values():
                for case in cases:
                    row["cases"] += 1
                    row[_classify(case)[0]] += 1
        lines.append(
            f"| {name} | {row['cases']} | {row['passed']} | {row['n/a']} | {row['failed']} |"
        )
    return "\n".join(lines) + "\n"


def summarize(paths: list[Path]) -> str:
    lines = [
        "| config | script | cases | passed | n/a | failed |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    total = Counter[str]()
    reasons = Counter[str]()
    for path in paths:
        doc: dict[str, Any] = json.loads(path.read_text())
        for script, cases in sorted(doc["scripts"].items()):
            row = Counter[str]()
            for case in cases:
                row["cases"] += 1
                kind, reason = _classify(case)
                row[kind] += 1
                if reason is not None:
                    reasons[reason] += 1
            total.update(row)
            lines.append(
                f"| {path.stem} | {script} | {row['cases']} | {row['passed']} "
                f"| {row['n/a']} | {row['failed']} |"
            )
    lines.append(
        f"| **all** | | {total['cases']} | {total['passed']} | {total['n/a']} | {total['failed']} |"
    )
    if reasons:
        lines += ["", "| cases | reason |", "| ---: | --- |"]
        for reason, n in reasons.most_common():
            escaped = reason.replace("|", "\\|")
            lines.append(f"| {n} | {escaped} |")
    return "\n".join(lines) + "\n"
