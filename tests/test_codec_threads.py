"""First use of the codecs from many threads at once (issue 15 item 5).

The TLS, CBOR and JSON codecs compile each type's functions on first use. Every test
here runs in a fresh interpreter (a subprocess), so no type is compiled yet, and
releases its threads together with a tiny GIL switch interval so that compilations
interleave. Each thread decodes and re-encodes real RFC 9420 values (the official
messages.json vector); every result must be byte-identical and no thread may fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import require, vectors_dir

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, sys, threading, traceback
sys.setswitchinterval(1e-6)  # switch threads as often as CPython allows
from mlswire.codecs import cbor, json as json_codec, tls

jobs = json.loads(sys.stdin.read())
codecs = {"tls": tls, "cbor": cbor, "json": json_codec}
barrier = threading.Barrier(len(jobs))
failures, done = [], []

def run(codec, type_name, hex_value):
    data = bytes.fromhex(hex_value)
    try:
        barrier.wait(30)
        if codec == "tls":
            value = tls.decode(data, type_name)
            ok = tls.encode(value, type_name) == data
        else:
            # The value decodes from TLS first (compiling TLS too), then goes through
            # the other codec and back.
            c = codecs[codec]
            value = tls.decode(data, type_name)
            ok = tls.encode(c.decode(c.encode(value, type_name), type_name), type_name) == data
        (done if ok else failures).append(f"{codec} {type_name}: " + ("ok" if ok else "differs"))
    except Exception:
        failures.append(f"{codec} {type_name}: " + traceback.format_exc(limit=3))

threads = [threading.Thread(target=run, args=job) for job in jobs]
for t in threads:
    t.start()
for t in threads:
    t.join(120)
print(json.dumps({"failures": failures, "done": len(done)}))
"""


def jobs(codecs: list[str]) -> list[tuple[str, str, str]]:
    from mlswire.vectors.messages import TYPES

    case = json.loads(require(vectors_dir() / "messages.json").read_text())[0]
    return [(codec, t, case[field]) for codec in codecs for field, t in TYPES.items()]


def run_fresh(job_list: list[tuple[str, str, str]]) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        input=json.dumps(job_list),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


@pytest.mark.parametrize("codecs", [["tls"], ["tls", "cbor", "json"]], ids=["tls", "all"])
def test_first_use_from_many_threads(codecs: list[str]) -> None:
    job_list = jobs(codecs)
    # Several rounds, each a fresh interpreter: a race is likely, not certain, per run.
    for _ in range(3):
        result = run_fresh(job_list)
        assert result["failures"] == []
        assert result["done"] == len(job_list)
