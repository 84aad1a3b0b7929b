"""Which implementation refuses what: the must-reject vectors (invalid-input.json) run
against mlswire, ts-mls (``node/invalid-vectors.mjs``) and rfc9420 (PyPI, here), and
the table of docs/PEER-VALIDATION.md made from the results::

    python -m mlswire.vectors.peer_validation vectors/invalid-input.json \\
        -o docs/PEER-VALIDATION.md

Per case and implementation the outcome is ``rejected`` (the invalid input was refused
and the control, the same input without the break, was accepted from the same state),
``accepted`` (a validation gap: the input that breaks the rule went through),
``not run`` (the implementation could not join or follow the valid epochs, or refused
the control too, so its refusal says nothing about the rule; the reason is given) or
``n/a`` (the implementation offers no way to feed it the input).

mls-rs is not a column: its Python bindings (``mls_rs_uniffi``) cannot import a
KeyPackage's private keys, so they cannot join a vector's Welcome.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..errors import MLSError
from . import invalid_input
from ._invalid import CASES, NOT_EXPRESSIBLE

ROOT = Path(__file__).resolve().parents[2]
Result = dict[str, Any]


def _text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:300]


# --- mlswire --------------------------------------------------------------------------------


def run_mlswire(cases: list[dict[str, Any]]) -> list[Result]:
    """mlswire's verdict per case: ``check`` requires the refusal to name the rule."""
    out = []
    for c in cases:
        r: Result = {"rule": c["rule"], "cipher_suite": c["cipher_suite"]}
        try:
            invalid_input.check(c)
        except (AssertionError, MLSError, KeyError, ValueError) as e:
            r.update(invalid="not run", reason=_text(e))
        else:
            r.update(invalid="rejected", control="accepted")
        out.append(r)
    return out


# --- ts-mls ---------------------------------------------------------------------------------


def run_ts_mls(path: Path, node: str = "node", rules: Iterable[str] = ()) -> list[Result]:
    """The node runner's results (one JSON line per case)."""
    script = ROOT / "node" / "invalid-vectors.mjs"
    done = subprocess.run(
        [node, str(script), str(path.resolve()), *rules],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ts-mls runner failed: {done.stderr.strip()[-500:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


# --- rfc9420 --------------------------------------------------------------------------------


class _Setup(Exception):
    """rfc9420 could not join or follow the valid epochs."""


class _NoApi(Exception):
    """rfc9420 has no call that takes this input (the application dispatches first)."""


class Rfc9420Peer:
    """rfc9420 1.3.0 as a passive client, through its protocol-level MLSGroup
    (``rfc9420.group.mls_group.processing``; the session API cannot pass the
    KeyPackage's encryption key or the PSKs a Welcome needs). Messages are decoded from
    their MLSMessage; a PublicMessage proposal goes to ``process_proposal`` with its
    sender, a Commit to ``process_commit``, a PrivateMessage to ``unprotect``."""

    def __init__(self) -> None:
        import rfc9420
        from rfc9420.group.mls_group import processing

        self.rfc9420: Any = rfc9420
        self.group_class: Any = processing.MLSGroup

    def _group(self, c: dict[str, Any], welcome_hex: str) -> Any:
        from rfc9420.messages.data_structures import Welcome
        from rfc9420.messages.key_packages import KeyPackage
        from rfc9420.messages.messages import MLSMessage

        psks = {bytes.fromhex(p["psk_id"]): bytes.fromhex(p["psk"]) for p in c["external_psks"]}

        def external(pid: Any) -> bytes | None:
            return psks.get(bytes(getattr(pid, "psk_id", b"") or b""))

        kp_msg = MLSMessage.deserialize(bytes.fromhex(c["key_package"]))
        w_msg = MLSMessage.deserialize(bytes.fromhex(welcome_hex))
        if int(w_msg.wire_format) != 3:
            raise ValueError(f"not a Welcome (wire_format {int(w_msg.wire_format)})")
        group = self.group_class.from_welcome(
            welcome=Welcome.deserialize(w_msg.content),
            hpke_private_key=bytes.fromhex(c["init_priv"]),
            crypto_provider=self.rfc9420.DefaultCryptoProvider(c["cipher_suite"]),
            key_package=KeyPackage.deserialize(kp_msg.content),
            welcome_psk_resolver=external,
            encryption_private_key=bytes.fromhex(c["encryption_priv"]),
        )
        group.set_external_psk_provider(external)
        return group

    def _process(self, group: Any, hex_message: str) -> None:
        from rfc9420.messages.data_structures import Sender, SenderType
        from rfc9420.messages.messages import (
            AuthenticatedContent,
            ContentType,
            MLSCiphertext,
            MLSMessage,
            MLSPlaintext,
        )

        msg = MLSMessage.deserialize(bytes.fromhex(hex_message))
        if int(msg.version) != 1:
            raise ValueError(f"MLSMessage version {int(msg.version)}")
        wf = int(msg.wire_format)
        if wf == 2:
            group.unprotect(MLSCiphertext.deserialize(msg.content))
            return
        if wf != 1:
            raise _NoApi(f"no rfc9420 call takes a wire_format {wf} message as a group message")
        pt = MLSPlaintext(AuthenticatedContent.deserialize(msg.content, wire_format=wf))
        fc = pt.auth_content.tbs.framed_content
        if fc.content_type == ContentType.COMMIT:
            group.process_commit(pt, fc.sender.sender)
        elif fc.content_type == ContentType.PROPOSAL:
            group.process_proposal(
                pt, Sender(fc.sender.sender, SenderType(fc.sender.sender_type)), wf
            )
        else:
            raise _NoApi("no rfc9420 call takes application data in a PublicMessage")

    def _follow(self, group: Any, epochs: Iterable[dict[str, Any]], where: str) -> None:
        for n, epoch in enumerate(epochs):
            for p in epoch["proposals"]:
                self._process(group, p)
            self._process(group, epoch["commit"])
            if group.get_epoch_authenticator().hex() != epoch["epoch_authenticator"]:
                raise ValueError(f"{where}[{n}]: epoch authenticator differs")

    def _setup(self, c: dict[str, Any]) -> Any:
        try:
            group = self._group(c, c["welcome"])
            if group.get_epoch_authenticator().hex() != c["initial_epoch_authenticator"]:
                raise ValueError("initial epoch authenticator differs")
            self._follow(group, c["epochs"], "epochs")
        except Exception as e:
            raise _Setup(f"join or valid epochs: {_text(e)}") from None
        return group

    def run(self, c: dict[str, Any]) -> Result:
        r: Result = {"rule": c["rule"], "cipher_suite": c["cipher_suite"], "invalid": "not run"}
        inv = c["invalid"]
        if inv["kind"] == "group_info":
            r.update(invalid="n/a", reason="rfc9420 has no call that joins from a GroupInfo")
            return r
        if inv["kind"] == "resumption_welcome":
            # from_welcome takes a ReInit proposal or the old version and suite, not the
            # old group; this runner does not take them out of the old group's state
            r["reason"] = "runner: rfc9420's resumption join is not wired (it takes the "
            r["reason"] += "ReInit proposal or old version/suite as arguments)"
            return r
        try:
            if inv["kind"] == "welcome":
                r.update(self._attempt(lambda: self._group(c, inv["welcome"])))
                r.update(self._control(lambda: self._setup(c)))
                return r
            group = self._setup(c)
            try:
                for p in inv["proposals"]:
                    self._process(group, p)
            except Exception as e:
                if not inv.get("break_in_proposals"):
                    raise _Setup(f"invalid.proposals: {_text(e)}") from None
                r.update(invalid="rejected", error=f"at the proposal: {_text(e)}")
            if r["invalid"] == "not run":
                r.update(self._attempt(lambda: self._process(group, inv["message"])))

            def control() -> None:
                twin = self._setup(c)
                for p in c["control"]["proposals"]:
                    self._process(twin, p)
                self._process(twin, c["control"]["message"])

            r.update(self._control(control))
            if c["continuation"] is not None:
                try:
                    self._follow(group, [c["continuation"]], "continuation")
                    r["continuation"] = "accepted"
                except Exception as e:
                    r["continuation"] = f"refused: {_text(e)}"
        except _Setup as e:
            r["reason"] = str(e)
        return r

    @staticmethod
    def _attempt(action: Callable[[], object]) -> Result:
        try:
            action()
        except _NoApi as e:
            return {"invalid": "n/a", "reason": str(e)}
        except Exception as e:
            return {"invalid": "rejected", "error": _text(e)}
        return {"invalid": "accepted"}

    @staticmethod
    def _control(action: Callable[[], object]) -> Result:
        try:
            action()
        except _Setup as e:
            return {"control": "refused", "control_error": str(e)}
        except Exception as e:
            return {"control": "refused", "control_error": _text(e)}
        return {"control": "accepted"}


def run_rfc9420(cases: list[dict[str, Any]]) -> list[Result]:
    peer = Rfc9420Peer()
    return [peer.run(c) for c in cases]


# --- the table ------------------------------------------------------------------------------


def verdict(r: Result | None) -> str:
    """One cell: the outcome, ``not run`` when the control was refused too (then the
    refusal shows nothing about the rule)."""
    if r is None:
        return "n/a"
    if r["invalid"] == "rejected" and r.get("control") == "refused":
        return "not run"
    return str(r["invalid"])


def _cell(r: Result | None) -> str:
    v = verdict(r)
    if r is None or v == "accepted":
        return f"**{v}**" if v == "accepted" else v
    if v == "n/a":
        return f"n/a ({_short(r.get('reason'))})"
    if v == "not run":
        why = r.get("reason") or f"control refused: {r.get('control_error')}"
        return f"not run ({_short(why)})"
    err = r.get("error")
    return f"rejected ({_short(err)})" if err else v


def _short(text: Any, n: int = 90) -> str:
    s = " ".join(str(text).split()).replace("|", "/")
    return s if len(s) <= n else s[: n - 1] + "…"


def table(
    cases: list[dict[str, Any]], results: dict[str, list[Result]], suite: int = 1
) -> list[str]:
    by: dict[str, dict[str, Result]] = {
        impl: {r["rule"]: r for r in rs if r["cipher_suite"] == suite}
        for impl, rs in results.items()
    }
    lines = [
        "| rule | area | RFC | " + " | ".join(results) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in results) + " |",
    ]
    for c in cases:
        if c["cipher_suite"] != suite:
            continue
        cells = [_cell(by[impl].get(c["rule"])) for impl in results]
        lines.append(f"| {c['rule']} | {c['area']} | {c['section']} | " + " | ".join(cells) + " |")
    return lines


def summary(results: dict[str, list[Result]]) -> list[str]:
    lines = [
        "| implementation | suite | rejected | accepted (gap) | not run | n/a |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for impl, rs in results.items():
        for suite in sorted({r["cipher_suite"] for r in rs}):
            vs = [verdict(r) for r in rs if r["cipher_suite"] == suite]
            lines.append(
                f"| {impl} | {suite} | {vs.count('rejected')} | {vs.count('accepted')} | "
                f"{vs.count('not run')} | {vs.count('n/a')} |"
            )
    return lines


def gaps(results: dict[str, list[Result]]) -> dict[str, list[str]]:
    """implementation -> rules accepted in some suite."""
    out: dict[str, list[str]] = {}
    for impl, rs in results.items():
        seen: list[str] = []
        for r in rs:
            if verdict(r) == "accepted" and r["rule"] not in seen:
                seen.append(r["rule"])
        out[impl] = seen
    return out


def render(path: Path, cases: list[dict[str, Any]], results: dict[str, list[Result]]) -> str:
    """The generated part of docs/PEER-VALIDATION.md."""
    lines = [
        "<!-- generated by `python -m mlswire.vectors.peer_validation "
        f"{path.as_posix()} -o docs/PEER-VALIDATION.md`; do not edit by hand -->",
        "",
        "### Totals",
        "",
        *summary(results),
        "",
        "### Rules accepted (validation gaps), any suite",
        "",
    ]
    for impl, rules in gaps(results).items():
        lines.append(f"* {impl}: {', '.join(rules) if rules else 'none'}")
    lines += [
        "",
        "### Suite 1, rule by rule",
        "",
        "A cell gives the outcome and, for a refusal, the start of the implementation's "
        "error (a refusal at the confirmation tag, or by a crash, shows less than one "
        "naming the rule: see above).",
        "",
        *table(cases, results),
        "",
        "### Rules without a vector",
        "",
        "| rule | why a wire-level vector cannot express it |",
        "| --- | --- |",
        *(f"| {rule} | {why} |" for rule, why in NOT_EXPRESSIBLE.items()),
        "",
    ]
    return "\n".join(lines)


MARK = "<!-- generated"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlswire.vectors.peer_validation")
    parser.add_argument("vectors", type=Path)
    parser.add_argument("-o", "--output", type=Path, help="docs/PEER-VALIDATION.md to update")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--rule", action="append", default=[], help="only these rules (a reproduction)"
    )
    args = parser.parse_args(argv)
    cases = json.loads(args.vectors.read_text())
    if args.rule:
        cases = [c for c in cases if c["rule"] in args.rule]
    results: dict[str, list[Result]] = {"mlswire": run_mlswire(cases)}
    results["ts-mls"] = run_ts_mls(args.vectors, rules=args.rule)
    results["rfc9420"] = run_rfc9420(cases)
    text = render(args.vectors, cases, results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.output is None:
        sys.stdout.write(text)
        return 0
    # The hand-written part (above the marker) is kept; the generated part replaced.
    old = args.output.read_text() if args.output.exists() else ""
    head = old.split(MARK)[0] if MARK in old else old
    args.output.write_text(head + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["CASES", "main", "render", "run_mlswire", "run_rfc9420", "run_ts_mls", "verdict"]
