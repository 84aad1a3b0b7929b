"""The ``mlswire`` command speaks clearly: every verb, given bad input or an unreachable
server, prints one line saying what failed and exits with the documented code
(``mlswire/commands/__init__.py``: 1 failed work, 2 usage, 3 unavailable), never a
traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlswire.commands import FAILED, UNAVAILABLE, USAGE

from .conftest import ROOT, require, vectors_dir

VECTOR_FAMILIES = 16


def run(
    *args: str, stdin: bytes = b"", cwd: Path = ROOT, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "mlswire", *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        check=False,
        timeout=timeout,
    )
    return subprocess.CompletedProcess(
        out.args, out.returncode, out.stdout.decode(errors="replace"), out.stderr.decode()
    )


def fails_clearly(out: subprocess.CompletedProcess[str], code: int, words: str) -> str:
    """Exit ``code``, one line on stderr that starts with the verb and holds ``words``,
    no traceback anywhere."""
    assert "Traceback" not in out.stdout + out.stderr, out.stderr
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("mlswire"), lines[0]
    assert " error: " in lines[0] and words in lines[0], lines[0]
    return lines[0]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- vectors ------------------------------------------------------------------------


def test_vectors_verify_without_files_checks_the_bundled_set() -> None:
    out = run("vectors", "verify")
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"checking the vector files in {vectors_dir()}"
    files = lines[1:-1]
    assert len(files) == VECTOR_FAMILIES
    assert all(line.endswith(" passed, 0 failed") for line in files), files
    assert "messages.json: 300 passed, 0 failed" in files
    assert lines[-1] == "785 passed, 0 failed"


def test_vectors_verify_output_format() -> None:
    files = [str(require(vectors_dir() / n)) for n in ("messages.json", "tree-math.json")]
    out = run("vectors", "verify", *files)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == f"{files[0]}: 300 passed, 0 failed"
    assert lines[1] == f"{files[1]}: 10 passed, 0 failed"
    assert lines[-1] == "310 passed, 0 failed"


def test_unknown_family_fails(tmp_path: Path) -> None:
    f = tmp_path / "mystery.json"
    f.write_text('[{"x": 1}]')
    out = run("vectors", "verify", str(f))
    assert out.returncode == FAILED
    assert "cannot tell which vector family" in out.stdout


def test_failing_case_is_reported_verbosely(tmp_path: Path) -> None:
    f = tmp_path / "deserialization.json"
    f.write_text('[{"vlbytes_header": "4000", "length": 0}, {"vlbytes_header": "00", "length": 0}]')
    out = run("vectors", "verify", "--verbose", str(f))
    assert out.returncode == FAILED
    assert "case 0" in out.stdout and "not minimally encoded" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "1 passed, 1 failed"


def test_vectors_verify_on_files_that_are_not_vectors(tmp_path: Path) -> None:
    text = tmp_path / "notes.json"
    text.write_text("hello")
    out = run("vectors", "verify", str(text))
    assert out.returncode == FAILED and "Traceback" not in out.stdout + out.stderr
    assert out.stdout.splitlines() == [
        f"{text}: error: not a JSON file (line 1, column 1: Expecting value)",
        "0 passed, 1 failed",
    ]
    binary = tmp_path / "blob.json"
    binary.write_bytes(b"\xff\xfe\x00")
    out = run("vectors", "verify", str(binary))
    assert out.returncode == FAILED and f"{binary}: error: not a JSON file" in out.stdout
    fails_clearly(run("vectors", "verify", str(tmp_path / "nope.json")), USAGE, "no such file")
    empty = tmp_path / "empty"
    empty.mkdir()
    fails_clearly(run("vectors", "verify", str(empty)), USAGE, "no .json vector files")


def test_vectors_verify_a_folder_checks_the_json_files_in_it(tmp_path: Path) -> None:
    (tmp_path / "tree-math.json").write_bytes((vectors_dir() / "tree-math.json").read_bytes())
    out = run("vectors", "verify", str(tmp_path))
    assert out.returncode == 0, out.stdout
    assert out.stdout.splitlines()[-1] == "10 passed, 0 failed"


def test_vectors_generate_bad_arguments(tmp_path: Path) -> None:
    fails_clearly(run("vectors", "generate", "no-such-family"), USAGE, "no-such-family")
    fails_clearly(run("vectors", "generate", "all"), USAGE, "give -o DIR")
    fails_clearly(run("vectors", "generate", "tree-math", "--suite", "x"), USAGE, "--suite")
    fails_clearly(run("vectors", "generate", "tree-math", "--count", "-1"), USAGE, "--count")
    blocked = tmp_path / "file"
    blocked.write_text("")
    out = run("vectors", "generate", "tree-math", "--count", "1", "-o", str(blocked / "x.json"))
    fails_clearly(out, USAGE, "cannot write")


def test_mlswire_vectors_pointing_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSWIRE_VECTORS", str(tmp_path))
    fails_clearly(run("vectors", "verify"), USAGE, f"no vector files (*.json) in {tmp_path}")


# -- convert, inspect, schema --------------------------------------------------------------


def _message_hex() -> str:
    cases = json.loads((vectors_dir() / "messages.json").read_text())
    return str(cases[0]["public_message_commit"])


def test_convert_bad_input() -> None:
    msg = _message_hex().encode()
    line = fails_clearly(
        run("convert", "--from", "tls", "--to", "json", "--type", "Bogus", stdin=msg),
        USAGE,
        "unknown type 'Bogus'",
    )
    assert "valid types: " in line and "MLSMessage" in line and "KeyPackage" in line
    line = fails_clearly(
        run("convert", "--from", "tls", "--to", "json", "--type", "Welcom", stdin=msg),
        USAGE,
        "did you mean Welcome",
    )
    fails_clearly(
        run("convert", "--from", "tls", "--to", "json", "--in-format", "hex", stdin=b"\x80\x01"),
        USAGE,
        "input is not hex: byte b'\\x80' at offset 0",
    )
    fails_clearly(
        run("convert", "--from", "tls", "--to", "json", "--in-format", "hex", stdin=b"abc"),
        USAGE,
        "odd number of hex digits",
    )
    fails_clearly(
        run("convert", "--from", "tls", "--to", "json", "--in-format", "base64", stdin=b"@@"),
        USAGE,
        "input is not base64",
    )
    fails_clearly(run("convert", "--from", "tls", "--to", "yaml", stdin=msg), USAGE, "'yaml'")
    fails_clearly(run("convert", "--from", "tls", "--to", "json", "/no/file"), USAGE, "cannot read")
    rejected = run("convert", "--from", "tls", "--to", "json", stdin=b"\x05\x06")
    fails_clearly(rejected, FAILED, "MLSMessage.version")
    fails_clearly(run("convert", "--to", "json"), USAGE, "--from")


def test_convert_detects_hex_input_like_inspect_and_ends_json_with_a_newline() -> None:
    msg = _message_hex()
    out = run("convert", "--from", "tls", "--to", "json", stdin=msg.encode())
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("}\n") and json.loads(out.stdout)["wire_format"]
    back = run(
        "convert", "--from", "json", "--to", "tls", "--out-format", "hex", stdin=out.stdout.encode()
    )
    assert back.stdout == msg + "\n"


def test_decode_failure_is_the_same_exit_in_convert_and_inspect() -> None:
    convert = run("convert", "--from", "tls", "--to", "cbor", stdin=b"\x05\x06")
    inspect = run("inspect", "--from", "tls", stdin=b"\x05\x06")
    assert convert.returncode == inspect.returncode == FAILED
    fails_clearly(inspect, FAILED, "unknown ProtocolVersion value 1286")


def test_inspect_bad_input(tmp_path: Path) -> None:
    fails_clearly(run("inspect", stdin=b"\x05\x06"), FAILED, "not a MLSMessage in any encoding")
    fails_clearly(run("inspect", str(tmp_path / "missing.bin")), USAGE, "cannot read")
    fails_clearly(run("inspect", "--type", "Bogus", stdin=b"00"), USAGE, "unknown type")
    fails_clearly(run("inspect", "--from", "xml", stdin=b"00"), USAGE, "unknown encoding 'xml'")
    fails_clearly(run("inspect", "--context", "Nope.x=1", stdin=b"00"), USAGE, "--context")


def test_inspect_json_errors_are_json() -> None:
    out = run("inspect", "--json", stdin=b"\x05\x06")
    assert out.returncode == FAILED and out.stderr == ""
    doc = json.loads(out.stdout)
    assert doc["exit"] == FAILED and doc["error"].startswith("not a MLSMessage in any encoding")
    out = run("inspect", "--json", "--type", "Bogus", stdin=b"00")
    assert out.returncode == USAGE and json.loads(out.stdout)["exit"] == USAGE


def test_schema_export_bad_arguments(tmp_path: Path) -> None:
    fails_clearly(run("schema", "export", "yaml"), USAGE, "invalid choice")
    out = run("schema", "export", "cddl", "-o", str(tmp_path / "no" / "dir" / "x.cddl"))
    fails_clearly(out, USAGE, "cannot write")


def test_usage_errors_are_one_line() -> None:
    fails_clearly(run(), USAGE, "required")
    fails_clearly(run("nosuchverb"), USAGE, "invalid choice")
    fails_clearly(run("vectors"), USAGE, "required")
    fails_clearly(run("client"), USAGE, "required")


def test_version_and_documented_exit_codes() -> None:
    import mlswire

    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"mlswire {mlswire.__version__}"
    helptext = run("--help").stdout
    for code in ("1 ", "2 ", "3 "):
        assert f"\n  {code}" in helptext.split("exit codes:")[1]
    readme = (ROOT / "README.md").read_text()
    assert "| 2 | usage" in readme and "| 3 | " in readme


# -- serve ----------------------------------------------------------------------------------


def test_serve_help_documents_host_port_and_log_level() -> None:
    text = " ".join(run("serve", "--help").stdout.split())
    assert "--host HOST address to listen on (default 127.0.0.1)" in text
    assert "TCP port (default 8480)" in text
    assert "server log verbosity (default warning)" in text
    assert "--data-dir" in text


def test_serve_bad_arguments_and_unavailable_services(tmp_path: Path) -> None:
    local = ["--as-dir", str(tmp_path / "as"), "--db", str(tmp_path / "ds.sqlite3")]
    fails_clearly(run("serve", "--port", "99999"), USAGE, "port 99999 is not in 0..65535")
    fails_clearly(run("serve", "--log-level", "loud"), USAGE, "invalid choice")
    fails_clearly(
        run("serve", "--db", str(tmp_path / "no" / "ds.sqlite3"), "--as-dir", str(tmp_path)),
        USAGE,
        "does not exist",
    )
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    fails_clearly(
        run("serve", "--as-dir", str(blocker), "--db", str(tmp_path / "ds.sqlite3")),
        USAGE,
        "AS folder",
    )
    fails_clearly(run("serve", "--data-dir", str(blocker / "x")), USAGE, "data folder")
    fails_clearly(run("serve", "--ds", "--db", local[3]), USAGE, "--as-url")
    port = closed_port()
    out = run("serve", "--as-dir", local[1], "--db", f"postgresql://u:secret@127.0.0.1:{port}/x")
    line = fails_clearly(out, UNAVAILABLE, "cannot open the PostgreSQL store")
    assert "secret" not in line
    out = run("serve", "--ds", "--as-url", f"http://127.0.0.1:{port}", "--db", local[3])
    fails_clearly(out, UNAVAILABLE, f"cannot fetch http://127.0.0.1:{port}/as/root")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = str(taken.getsockname()[1])
        out = run("serve", *local, "--port", busy)
    line = fails_clearly(out, UNAVAILABLE, f"cannot listen on 127.0.0.1:{busy}")
    assert "serving" not in out.stdout and " on http" not in out.stdout


def test_serve_keeps_its_data_in_the_data_folder(tmp_path: Path) -> None:
    """Started in a working folder, ``serve`` writes nothing there: the AS keys and the
    SQLite database go to the data folder it prints first."""
    work, data = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    port = closed_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlswire", "serve", "--data-dir", str(data), "--port", str(port)],
        cwd=work,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this tree's mlswire, from elsewhere
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == f"mlswire serve: data in {data}\n"
        assert proc.stdout.readline() == f"mlswire serve: AS+DS on http://127.0.0.1:{port}\n"
    finally:
        proc.terminate()
        proc.wait(20)
    assert list(work.iterdir()) == []
    assert (data / "as" / "root-key.pem").is_file() and (data / "ds.sqlite3").is_file()


# -- client ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from .service.conftest import Server

    tmp = tmp_path_factory.mktemp("serve")
    s = Server(str(tmp / "ds.sqlite3"), tmp).start()
    yield s.url
    s.stop()


def client(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run("client", "--state", str(state), *args)


def registered(state: Path, user: str, url: str) -> None:
    out = client(state, "register", "--user", user, "--device", "d1", "--url", url)
    assert out.returncode == 0, out.stderr


def test_client_without_a_device_or_a_server(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    for verb in (["create"], ["send", "00", "x"], ["receive"], ["groups"], ["rejoin", "00"]):
        fails_clearly(client(empty, *verb), USAGE, f"no device in {empty}")
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    out = client(tmp_path / "a", "register", "--user", "a", "--device", "d", "--url", url)
    fails_clearly(out, UNAVAILABLE, f"cannot reach http://127.0.0.1:{port}")
    out = client(tmp_path / "a", "register", "--user", "a", "--device", "d", "--url", "nowhere")
    fails_clearly(out, USAGE, "not a usable server URL")
    fails_clearly(client(tmp_path / "a", "register", "--user", "a"), USAGE, "--device")


def test_client_register_refuses_to_replace_a_device(tmp_path: Path, server: str) -> None:
    state = tmp_path / "me"
    registered(state, "keeper", server)
    before = (state / "device.json").read_bytes()
    out = client(state, "register", "--user", "other", "--device", "d2", "--url", server)
    fails_clearly(out, USAGE, f"{state} already holds device keeper/d1")
    assert (state / "device.json").read_bytes() == before
    out = client(state, "register", "--user", "other", "--device", "d2", "--url", server, "--force")
    assert out.returncode == 0 and out.stdout.strip() == "other/d2", out.stderr


def test_client_verbs_on_bad_input_and_an_unreachable_server(tmp_path: Path, server: str) -> None:
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    registered(alice, "alice-e", server)
    registered(bob, "bob-e", server)
    gid = client(alice, "create").stdout.strip()
    fails_clearly(client(alice, "invite", gid, "nosuchuser"), FAILED, "nosuchuser")
    fails_clearly(client(alice, "send", "zz", "x"), USAGE, "group id must be hex")
    for verb in (["send", "00ff", "x"], ["attach", "00ff", __file__], ["update", "00ff"],
                 ["leave", "00ff"], ["invite", "00ff", "bob-e"]):  # fmt: skip
        fails_clearly(client(alice, *verb), USAGE, "this device is in no group 00ff")
    fails_clearly(client(alice, "attach", gid, str(tmp_path / "nope")), USAGE, "nope")
    # The state points at the server; with the server unreachable every verb says so.
    device = json.loads((alice / "device.json").read_text())
    dead = f"http://127.0.0.1:{closed_port()}"
    device["ds_url"] = device["as_url"] = dead
    (alice / "device.json").write_text(json.dumps(device))
    for verb in (["create"], ["send", gid, "x"], ["receive"], ["groups"], ["invite", gid, "b"],
                 ["update", gid], ["leave", gid], ["rejoin", gid], ["attach", gid, __file__]):  # fmt: skip
        fails_clearly(client(alice, *verb), UNAVAILABLE, f"cannot reach {dead}")


def test_client_receive_saves_attachments(tmp_path: Path, server: str) -> None:
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    registered(alice, "alice-a", server)
    registered(bob, "bob-a", server)
    gid = client(alice, "create").stdout.strip()
    assert client(alice, "invite", gid, "bob-a").stdout.strip() == "added bob-a/d1"
    assert "[joined]" in client(bob, "receive").stdout
    doc = tmp_path / "report.pdf"
    doc.write_bytes(b"%PDF- not really" * 100)
    for _ in range(2):
        assert client(alice, "attach", gid, str(doc)).returncode == 0
    out = client(bob, "receive")
    assert out.returncode == 0, out.stderr
    first, second = bob / "attachments" / "report.pdf", bob / "attachments" / "report-1.pdf"
    assert out.stdout.splitlines() == [
        f"{gid} alice-a/d1: [attachment report.pdf, 1600 bytes, saved to {first}]",
        f"{gid} alice-a/d1: [attachment report.pdf, 1600 bytes, saved to {second}]",
    ]
    assert first.read_bytes() == second.read_bytes() == doc.read_bytes()
    assert client(alice, "attach", gid, str(doc)).returncode == 0
    elsewhere = tmp_path / "downloads"
    out = client(bob, "receive", "--save-dir", str(elsewhere))
    assert out.stdout.strip().endswith(f"saved to {elsewhere / 'report.pdf'}]")
    assert (elsewhere / "report.pdf").read_bytes() == doc.read_bytes()
    assert client(alice, "invite", gid, "bob-a").stdout.strip().startswith("nothing to add")


def test_serve_and_client_without_the_service_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pip install mlswire` has no server or HTTP client: those verbs say what to install."""
    from mlswire import cli

    # Modules other tests imported are imported again, without the extra's packages.
    for name in list(sys.modules):
        if name.startswith(("mlswire.service", "mlswire.client", "starlette", "httpx")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "starlette", None)  # import starlette now fails
    monkeypatch.setitem(sys.modules, "httpx", None)
    assert cli.main(["serve", "--data-dir", str(tmp_path), "--port", "0"]) == UNAVAILABLE
    assert cli.main(["client", "--state", str(tmp_path), "groups"]) == UNAVAILABLE
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "mlswire serve: error: needs the Python package 'starlette.applications': pip install"
        " 'mlswire[service]'",
        "mlswire client groups: error: needs the Python package 'httpx': "
        "pip install 'mlswire[service]'",
    ]
