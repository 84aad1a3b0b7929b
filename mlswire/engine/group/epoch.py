"""What a group holds for one epoch: the public part (:class:`PublicEpoch`: tree,
GroupContext, transcript, proposal cache) that any observer can follow, and the member's
part on top (:class:`EpochState`: private keys, epoch secrets, secret tree). A new epoch
is started in one place, :func:`begin_epoch`, whichever way it came (creation, Welcome,
external join, a commit received or sent)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace

from ...crypto.suites import CipherSuite
from ...schema import GroupContext
from .. import key_schedule as ks
from .. import tree_math as tm
from .. import treekem
from ..proposals import ProposalItem
from ..ratchet_tree import RatchetTree
from ..secret_tree import SecretTree
from ..validation import MemberSummary
from .config import GroupConfig


@dataclass(kw_only=True)
class PublicEpoch:
    """The public state of one epoch: what a Delivery Service or monitor needs to verify
    and apply PublicMessage proposals and commits (no secret)."""

    context: GroupContext
    tree: RatchetTree
    summary: MemberSummary
    interim: bytes
    # ProposalRef -> the proposal, cached until the next commit.
    proposals: dict[bytes, ProposalItem] = field(default_factory=dict)

    @property
    def suite(self) -> CipherSuite:
        return self.tree.suite


@dataclass(kw_only=True)
class EpochState(PublicEpoch):
    """Everything a member holds for one epoch. Replaced as a whole on merge."""

    private: treekem.TreePrivateState
    secrets: ks.EpochSecrets
    secret_tree: SecretTree
    # ProposalRef of an Update of ours -> the new leaf's HPKE private key.
    update_keys: dict[bytes, bytes] = field(default_factory=dict)
    # Hash of a proposal message we sent -> its ProposalRef, to recognise the echo.
    sent: dict[bytes, bytes] = field(default_factory=dict)


def begin_epoch(
    config: GroupConfig,
    context: GroupContext,
    tree: RatchetTree,
    summary: MemberSummary,
    private: treekem.TreePrivateState,
    secrets: ks.EpochSecrets,
    interim: bytes,
) -> EpochState:
    """The member's state at the start of an epoch whose secrets were just derived: the
    secret tree is seeded from the encryption secret, and the secrets used up by then are
    dropped (§9.2)."""
    return EpochState(
        context=context,
        tree=tree,
        summary=summary,
        private=private,
        secrets=forget_used_secrets(secrets),
        secret_tree=new_secret_tree(config, tree.suite, secrets.encryption_secret, tree.n_leaves),
        interim=interim,
    )


def new_secret_tree(config: GroupConfig, cs: CipherSuite, secret: bytes, n: int) -> SecretTree:
    return SecretTree(
        cs,
        secret,
        n,
        out_of_order_window=config.out_of_order_window,
        max_forward_distance=config.max_forward_distance,
    )


def forget_used_secrets(secrets: ks.EpochSecrets) -> ks.EpochSecrets:
    # §9.2: joiner/welcome secrets are only for the Welcome, the encryption secret lives
    # on in the secret tree; keep none of them in the state.
    return dc_replace(secrets, joiner_secret=b"", welcome_secret=b"", encryption_secret=b"")


def past_epoch_secrets(secrets: ks.EpochSecrets) -> ks.EpochSecrets:
    """Of a past epoch's secrets only the sender data secret is still needed (§9.2);
    resumption PSKs are kept apart, per ``resumption_psk_epochs``."""
    return ks.EpochSecrets(
        cipher_suite=secrets.cipher_suite,
        joiner_secret=b"",
        welcome_secret=b"",
        sender_data_secret=secrets.sender_data_secret,
        encryption_secret=b"",
        exporter_secret=b"",
        external_secret=b"",
        confirmation_key=b"",
        membership_key=b"",
        resumption_psk=b"",
        epoch_authenticator=b"",
        init_secret=b"",
    )


def prune_private(
    private: treekem.TreePrivateState, new_tree: RatchetTree, old_tree: RatchetTree
) -> treekem.TreePrivateState:
    """Private keys whose node still carries the same public key (O(log N): a member only
    holds keys on its own direct path)."""
    keys: dict[int, bytes] = {}
    for x, sk in private.keys.items():
        if x >= new_tree.width:
            continue
        now, before = new_tree.node(x), old_tree.node(x) if x < old_tree.width else None
        if now is not None and before is not None and now.encryption_key == before.encryption_key:
            keys[x] = sk
    return treekem.TreePrivateState(private.leaf_index, keys)


def touched_nodes(tree: RatchetTree, leaves: Iterable[int]) -> set[int]:
    """The nodes a change of these leaves touches: each leaf and its direct path."""
    n = tree.n_leaves
    out: set[int] = set()
    for leaf in leaves:
        if 0 <= leaf < n:
            out.add(tm.leaf_to_node(leaf))
            out.update(tm.direct_path(tm.leaf_to_node(leaf), n))
    return out


__all__ = [
    "EpochState",
    "PublicEpoch",
    "begin_epoch",
    "forget_used_secrets",
    "new_secret_tree",
    "past_epoch_secrets",
    "prune_private",
    "touched_nodes",
]
