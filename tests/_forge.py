"""The forging helpers of the negative tests of docs/VALIDATION.md live in
:mod:`mlswire.vectors.forge` (one source for these tests and the must-reject vector
family); this module re-exports them and adds the pytest assertions: ``rejects``,
``breaks_only``, ``joins_only`` and their relatives."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from mlswire.engine.group import Client, Group
from mlswire.errors import MLSError, ValidationError
from mlswire.schema import PreSharedKeyID
from mlswire.vectors.forge import (
    CONFIRMATION_TAG,
    PUBLIC,
    ForgedPath,
    Item,
    add,
    altered_key_package,
    by_ref,
    by_value,
    caps,
    content_of,
    decode,
    encode,
    encode_public,
    external_init,
    failing_tree_checks,
    flip_private,
    forge_commit,
    forge_external_commit,
    forge_path,
    forge_proposal,
    forge_welcome,
    forged_path,
    forging,
    hand_made_private,
    key_package,
    leaf_at,
    make_group,
    new_client,
    path_of,
    public,
    raw_key_package,
    real_commit,
    rechain,
    required_capabilities_ext,
    resign,
    resigned_group_info,
    set_tree,
    sign_key_package,
    sign_leaf,
    sign_public,
    staged,
    tree_nodes,
    update,
    update_leaf,
    with_path,
    with_path_leaf,
)

__all__ = [
    "CONFIRMATION_TAG",
    "PUBLIC",
    "ForgedPath",
    "Item",
    "accepted",
    "add",
    "altered_key_package",
    "breaks_only",
    "by_ref",
    "by_value",
    "caps",
    "content_of",
    "decode",
    "encode",
    "encode_public",
    "external_init",
    "failing_tree_checks",
    "flip_private",
    "forge_commit",
    "forge_external_commit",
    "forge_path",
    "forge_proposal",
    "forge_welcome",
    "forged_path",
    "forging",
    "hand_made_private",
    "joins_only",
    "key_package",
    "leaf_at",
    "make_group",
    "new_client",
    "path_of",
    "public",
    "raw_key_package",
    "real_commit",
    "rechain",
    "rejects",
    "rejects_join",
    "required_capabilities_ext",
    "resign",
    "resigned_group_info",
    "set_tree",
    "sign_key_package",
    "sign_leaf",
    "sign_public",
    "staged",
    "tree_nodes",
    "update",
    "update_leaf",
    "with_path",
    "with_path_leaf",
]


# --- assertions --------------------------------------------------------------------------


def rejects(
    target: Group | Callable[[], object],
    message: bytes | None,
    error: type[MLSError],
    rule: str,
) -> MLSError:
    """``target.process(message)`` (or ``target()``) raises ``error`` whose text names
    ``rule`` (a regular expression); a group's ``to_bytes()`` is byte-identical after."""
    if isinstance(target, Group):
        before = target.to_bytes()
        with pytest.raises(error) as info:
            assert message is not None
            target.process(message)
        assert target.to_bytes() == before, "a rejected message changed the group state"
    else:
        with pytest.raises(error) as info:
            target()
    text = str(info.value)
    assert re.search(rule, text), f"{text!r} does not name {rule!r}"
    return info.value


def rejects_join(
    joiner: Client,
    welcome: bytes,
    error: type[MLSError],
    rule: str,
    psks: Callable[[PreSharedKeyID], bytes | None] | None = None,
    resumed_from: Group | None = None,
) -> None:
    """Joining from ``welcome`` fails naming ``rule``, and the joiner keeps its
    KeyPackage private keys (a rejected Welcome consumes nothing)."""
    held = dict(joiner._key_packages)
    old_state = None if resumed_from is None else resumed_from.to_bytes()
    rejects(
        lambda: joiner.join_group(welcome, psks=psks, resumed_from=resumed_from), None, error, rule
    )
    assert resumed_from is None or resumed_from.to_bytes() == old_state
    assert joiner._key_packages == held


# --- purity: the break is the only thing wrong -------------------------------------------


def accepted(receiver: Group, message: bytes) -> None:
    """``receiver`` accepts ``message`` (a commit is staged, not merged), or refuses it
    only at a forger's placeholder confirmation tag: the last check of a Commit, made
    after everything else about it passed."""
    try:
        receiver.process(message)
    except ValidationError as e:
        pm = decode(message).public_message
        placeholder = bytes(receiver._state.suite.hash_len)
        if pm is None or pm.auth.confirmation_tag != placeholder:
            raise
        if not re.search(CONFIRMATION_TAG, str(e)):
            raise AssertionError(f"refused before its confirmation tag: {e}") from e


def breaks_only(
    receiver: Group, build: Callable[[bool], bytes], error: type[MLSError], rule: str
) -> MLSError:
    """The negative test and its proof of purity: ``build(True)``, the message with the
    break, is refused naming ``rule`` with the state unchanged (``rejects``), and
    ``build(False)``, the same message built and signed the same way without the break,
    is ``accepted``. So the break is all that is wrong with the message."""
    err = rejects(receiver, build(True), error, rule)
    accepted(receiver, build(False))
    return err


def joins_only(
    joiner: Client,
    build: Callable[[bool], bytes],
    error: type[MLSError],
    rule: str,
    *,
    psks: Callable[[PreSharedKeyID], bytes | None] | None = None,
    resumed_from: Group | Callable[[bool], Group] | None = None,
) -> None:
    """``breaks_only`` for a Welcome: ``build(True)`` is refused naming ``rule`` (the
    joiner keeps its KeyPackage keys), ``build(False)`` joins. ``psks`` and
    ``resumed_from`` are passed to both joins (``resumed_from(broken)`` when it is a
    callable: the old group a resumption Welcome is checked against)."""

    def old(broken: bool) -> Group | None:
        return resumed_from(broken) if callable(resumed_from) else resumed_from

    rejects_join(joiner, build(True), error, rule, psks=psks, resumed_from=old(True))
    joiner.join_group(build(False), config=PUBLIC, psks=psks, resumed_from=old(False))
