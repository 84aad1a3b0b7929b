"""docs/VALIDATION.md stays true: every row points at a test that exists (an
``xfail(strict=True)`` one exactly when the row says **not enforced**), at code that
exists, and every negative test of the tests/test_validation_rules_*.py files is in the
table (a test nobody can find from the table is a rule nobody documented). Every row
has an RFC level (MUST, SHOULD or beyond); every SHOULD and beyond row says why its
check is kept or relaxed; and the strict-only rows are exactly the engine's checks
behind ``ValidationPolicy(strict=True)``."""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "VALIDATION.md"
ROW = re.compile(r"^\|\s*([A-Z]+\d+)\s*\|(.*)\|\s*$")
TEST_ID = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")
CODE = re.compile(r"`((?:engine|codecs)\.[\w.]+):([\w.]+)`")
ERRORS = {"ValidationError", "CryptoError", "StateError", "DecodeError"}
LEVEL = re.compile(r"^(MUST|SHOULD|beyond)(, strict-only)?(?:: (.+))?$")
# The rule names of the checks only a strict policy makes (validation.py, group_info.py):
# "RFC 9420 §7.2 (strict): capabilities list the group's cipher suite".
STRICT_RULE = re.compile(r'"RFC 9420 (§[\d.]+) \(strict\): ([^"]+)"')
# Tests in the rule files that are positive controls of a row (named in its text) or
# helpers' own checks, not rows of their own.
NOT_ROWS = {"test_list_add_of_removed_member_is_allowed", "test_external_commit_resync_accepted"}


@dataclass(frozen=True)
class Row:
    id: str
    cells: list[str]

    @property
    def text(self) -> str:
        return " | ".join(self.cells)


def rows() -> list[Row]:
    out = []
    for line in TABLE.read_text().splitlines():
        m = ROW.match(line)
        if m:
            out.append(Row(m.group(1), [c.strip() for c in m.group(2).split("|")]))
    return out


def _test_function(path: str, name: str) -> object:
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name, None)


def _strict_xfail(func: object) -> bool:
    marks = getattr(func, "pytestmark", [])
    return any(m.name == "xfail" and m.kwargs.get("strict") is True for m in marks)


def test_table_has_the_sections_of_the_issue() -> None:
    text = TABLE.read_text()
    for section in (
        "§6 ",
        "§7.3 ",
        "§10.1 ",
        "§11.1 ",
        "§12.2 ",
        "§12.4.2 ",
        "§12.4.3 ",
        "§12.4.3.1 ",
        "§12.4.3.2 ",
        "§8.4 ",
    ):
        assert f"## {section}" in text, f"no section for {section.strip()}"
    ids = [r.id for r in rows()]
    assert len(ids) == len(set(ids)), "duplicate row ids"
    assert len(ids) > 100


@pytest.mark.parametrize("row", rows(), ids=lambda r: r.id)
def test_row_points_at_test_and_code(row: Row) -> None:
    assert len(row.cells) == 6, f"{row.id}: expected 7 columns"
    _rfc, _rule, _level, code, test, error = row.cells
    assert error in ERRORS, f"{row.id}: unknown error class {error!r}"
    tests = TEST_ID.findall(test)
    assert len(tests) == 1, f"{row.id}: the test column names one test"
    func = _test_function(*tests[0])
    assert callable(func), f"{row.id}: {tests[0][0]}::{tests[0][1]} does not exist"
    not_enforced = "**not enforced**" in row.text
    assert _strict_xfail(func) == not_enforced, (
        f"{row.id}: a row marked not enforced points at an xfail(strict=True) test, "
        "and only such a row"
    )
    refs = CODE.findall(code)
    assert refs, f"{row.id}: no `module:name` in the code column"
    for module_name, qualname in refs:
        obj: object = importlib.import_module(f"mlswire.{module_name}")
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
            assert obj is not None, f"{row.id}: mlswire.{module_name}:{qualname} does not exist"


def test_every_rule_test_is_in_the_table() -> None:
    listed = {name for r in rows() for _, name in TEST_ID.findall(r.text)}
    for path in sorted((ROOT / "tests").glob("test_validation_rules_*.py")):
        module = importlib.import_module(f"tests.{path.stem}")
        for name in dir(module):
            if name.startswith("test_") and name not in NOT_ROWS:
                assert name in listed, f"{path.name}::{name} is in no row of VALIDATION.md"


def _level(row: Row) -> tuple[str, bool, str]:
    """(level, strict-only, the reason or note after the colon) of a row."""
    m = LEVEL.match(row.cells[2])
    assert m, f"{row.id}: level {row.cells[2][:40]!r} is not MUST, SHOULD or beyond"
    return m.group(1), m.group(2) is not None, m.group(3) or ""


@pytest.mark.parametrize("row", rows(), ids=lambda r: r.id)
def test_row_has_a_level_and_a_reason(row: Row) -> None:
    level, strict_only, reason = _level(row)
    assert "strict-only" not in row.cells[2].removeprefix("beyond, strict-only"), (
        f"{row.id}: 'strict-only' belongs right after 'beyond'"
    )
    if strict_only:
        assert level == "beyond", f"{row.id}: only a check beyond the RFC may be strict-only"
        assert "relaxed" in reason, f"{row.id}: a strict-only row says why it is relaxed"
        assert "`ValidationPolicy(strict=True)`" in row.text, f"{row.id}: names the switch"
    if level != "MUST":
        assert '"' in reason or reason.startswith("no RFC step"), (
            f"{row.id}: a {level} row quotes the RFC (or says it has no such step)"
        )
        assert "kept" in reason or "relaxed" in reason, (
            f"{row.id}: a {level} row says why it is kept or relaxed"
        )


def _strict_rules() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in sorted((ROOT / "mlswire").rglob("*.py")):
        found.update(STRICT_RULE.findall(path.read_text()))
    return found


def test_strict_only_rows_are_the_strict_checks() -> None:
    strict_rules = _strict_rules()
    assert strict_rules, "no '(strict)' rule in mlswire: update this test"
    strict_rows = [r for r in rows() if _level(r)[1]]
    for section, rule in sorted(strict_rules):
        assert any(section in r.cells[0] and f'"{rule}"' in r.cells[1] for r in strict_rows), (
            f"the strict check {section} {rule!r} is in no strict-only row"
        )
    for r in strict_rows:
        assert any(f'"{rule}"' in r.cells[1] for _, rule in strict_rules), (
            f"{r.id}: strict-only, but the engine has no '(strict)' check with its rule"
        )
        (path, name), *_ = TEST_ID.findall(r.cells[4])
        source = inspect.getsource(_test_function(path, name))  # type: ignore[arg-type]
        assert "ValidationPolicy(strict=True)" in source, (
            f"{r.id}: its test does not use a strict receiver"
        )


def _normalized(text: str) -> str:
    """The RFC's markdown with its cross-reference braces dropped and every run of
    white space one space, so that a quote matches across the source's line breaks."""
    return re.sub(r"\s+", " ", text.replace("{{", "").replace("}}", ""))


def test_level_quotes_are_the_rfc_text(rfc9420_text: str) -> None:
    # Each "..." in a level cell is RFC 9420's wording; " ... " marks an elision.
    rfc = _normalized(rfc9420_text)
    quotes = 0
    for row in rows():
        for quote in re.findall(r'"([^"]+)"', row.cells[2]):
            for part in quote.split(" ... "):
                part = _normalized(part).strip(" .")
                assert part in rfc, f"{row.id}: {part!r} is not in RFC 9420"
                quotes += 1
    assert quotes > 50
