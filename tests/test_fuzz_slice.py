"""The CI slice of the fuzzing campaign: every harness of :mod:`mlswire.fuzz` runs a few
thousand mutated inputs from a fixed seed (15-20 s in all), and the runner's own
machinery (failure records, replay, the command line) is checked on a target that
fails on purpose. The long run is ``python -m mlswire.fuzz --seconds 600``.

The differential harnesses (mlswire's TLS codec against the ``tls-construct`` plugin)
need the plugin, which tests/_construct_plugin installs first; their slice is
``test_differential_slice``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlswire import fuzz
from mlswire.errors import DecodeError

from . import _construct_plugin

# Engine harnesses run real crypto per input (~1 ms); decoders are ~10x cheaper.
DECODER_INPUTS = 2000
ENGINE_INPUTS = 500
# Both TLS codecs per input; the construct one is the slower (~0.1-1 ms an input).
DIFFERENTIAL_INPUTS = 1500
# Known before anything is installed, so that the slice is the same list everywhere.
SINGLE = [n for n in fuzz.harness_names() if n not in fuzz.DIFFERENTIAL_HARNESSES]


@pytest.fixture(scope="module")
def table() -> dict[str, fuzz.Harness]:
    # Installed (when it can be) before the table is made, so that the table and
    # harness_names() agree on whether the differential harnesses are in it.
    _construct_plugin.ensure()
    return fuzz.harnesses()


def test_every_decoder_and_engine_entry_point_has_a_harness(table: dict[str, fuzz.Harness]) -> None:
    assert sorted(table) == sorted(fuzz.harness_names())
    for encoding in fuzz.ENCODINGS:
        for t in fuzz.DECODER_TYPES:
            assert table[f"decode-{encoding}-{t}"].seeds, f"{encoding} {t} has no seed"
    for name in fuzz.ENGINE_HARNESSES:
        assert table[name].seeds


@pytest.mark.parametrize("name", SINGLE)
def test_harness_slice(name: str, table: dict[str, fuzz.Harness], tmp_path: Path) -> None:
    run_slice(
        table[name], ENGINE_INPUTS if name.startswith("engine-") else DECODER_INPUTS, tmp_path
    )


@pytest.mark.parametrize("name", fuzz.DIFFERENTIAL_HARNESSES)
def test_differential_slice(name: str, table: dict[str, fuzz.Harness], tmp_path: Path) -> None:
    """The same mutated bytes to both TLS codecs: the same verdict, the same values."""
    _construct_plugin.require()
    run_slice(table[name], DIFFERENTIAL_INPUTS, tmp_path)


def run_slice(harness: fuzz.Harness, n: int, tmp_path: Path) -> None:
    stats = fuzz.fuzz(harness, 0, seed=1, out=tmp_path, slow=5.0, iterations=n)
    assert stats.iterations == n
    # The seeds are real messages: each is accepted (a harness that rejects its own
    # seeds would only be fuzzing the first check).
    assert stats.accepted >= len(harness.seeds)
    assert not stats.failures, "\n\n".join(text for text, _ in stats.failures)


def test_failures_are_recorded_and_replayed(tmp_path: Path) -> None:
    def target(data: bytes) -> bool:
        if data.startswith(b"\xff"):
            raise IndexError("a bug")
        if data.startswith(b"\xfe"):
            raise DecodeError("fine: an MLSError")
        return False

    harness = fuzz.Harness("self-test", [b"\x00\x01", b"\xfe"], target, "tls")
    stats = fuzz.fuzz(harness, 0, seed=3, out=tmp_path, iterations=3000)
    assert len(stats.failures) == 1  # the same bug found again counts once
    text, path = stats.failures[0]
    assert "IndexError: a bug" in text
    assert path.read_bytes().startswith(b"\xff")
    assert "harness: self-test" in path.with_suffix(".txt").read_text()
    assert fuzz.run_one(harness, path.read_bytes(), slow=5.0)[0] is not None


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fuzz.main(["--list"]) == 0
    listed = capsys.readouterr().out.split()
    assert listed == fuzz.harness_names()
    args = ["--seconds", "1", "--harness", "decode-tls-Sender", "--out", str(tmp_path)]
    with pytest.raises(SystemExit):
        fuzz.main(args)  # no such harness: a usage error, not a crash
    capsys.readouterr()
    assert fuzz.main(["--seconds", "0.5", "--harness", "decode-json-Proposal", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "decode-json-Proposal" in out and "1 harnesses" in out and "0 failures" in out
    saved = tmp_path / "decode-tls-Commit-x.bin"
    saved.write_bytes(b"\x00")
    assert fuzz.main(["--replay", str(saved)]) == 0
    assert "decode-tls-Commit: ok" in capsys.readouterr().out
