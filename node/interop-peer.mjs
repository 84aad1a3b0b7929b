// A long-running ts-mls member driver for mlswire's interop tests (tests/interop/peers.py).
//
// Protocol: JSON lines over stdin/stdout, strictly one request then one response.
//   request:  {"id": 7, "op": "encrypt", "group": 3, "data": "68656c6c6f"}
//   response: {"id": 7, "ok": true, "result": {...}}
//         or: {"id": 7, "ok": false, "error": "ValidationError: ...", "kind": "ValidationError"}
// All byte strings are lowercase hex. Clients and groups live here and are named by
// integer handles, so one process can hold any number of members of any number of
// groups (several members of one group included), in any cipher suite.
//
// Requests are handled one at a time, in order: the test drives members step by step
// and a second request never needs to overtake the first. Nothing but responses is
// ever written to stdout (the Python side reads it line by line); diagnostics go to
// stderr.
//
// ts-mls state is immutable: every operation returns a new ClientState which replaces
// the one held under the group's handle only after the operation succeeded, so a
// rejected message leaves the member exactly as it was (what the tests rely on when
// they check that a removed member can no longer decrypt and stays usable otherwise).

import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

import {
  acceptAll,
  branchGroup,
  createApplicationMessage,
  createCommit,
  createGroupInfoWithExternalPubAndRatchetTree,
  createProposal,
  createGroup,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteImpl,
  joinGroup,
  joinGroupExternal,
  joinGroupFromBranch,
  joinGroupFromReinit,
  mlsExporter,
  processMessage,
  reinitCreateNewGroup,
  reinitGroup,
  zeroOutUint8Array,
} from "ts-mls";
// Not re-exported by the package root; reachable through the "./*.js" subpath export.
import { getCiphersuiteFromId, getCiphersuiteNameFromId } from "ts-mls/crypto/ciphersuite.js";
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { varLenDataEncoder } from "ts-mls/codec/variableLength.js";
import { createGroupInfo } from "ts-mls/createCommit.js";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";

import { CODECS, checkOne } from "./codecs.mjs";

// RFC 9420 §5.1.1: an ECDSA SignaturePublicKey is an *uncompressed* SEC1 point. ts-mls
// 1.6.4's keygen for the NIST suites returns noble's default, the compressed form (33,
// 49, 67 bytes), which conforming peers reject. ts-mls signs with the private key alone
// and verifies either form, so the driver re-derives the public key uncompressed;
// `rfc_signature_keys: false` in new_client keeps ts-mls's own (non-conforming) keys.
const NIST_CURVES = { 2: "p256", 5: "p521", 7: "p384" };

export async function conformingSignatureKeys(suite, keys) {
  const curve = NIST_CURVES[suite];
  if (curve === undefined) return keys;
  const nist = await import("@noble/curves/nist.js");
  return { signKey: keys.signKey, publicKey: nist[curve].getPublicKey(keys.signKey, false) };
}

export const TS_MLS_VERSION = JSON.parse(
  readFileSync(new URL("./node_modules/ts-mls/package.json", import.meta.url), "utf8"),
).version;

// The suites this driver offers: RFC 9420's 1..7 and ts-mls 1.x's post-quantum 77..88
// (tests/interop/test_pq_interop.py). Each needs the optional peer packages pinned in
// package.json (see PEERS.md) and fails loudly at getCiphersuiteImpl if one is missing.
// The RFC suites are what the gRPC harness peer (grpc-peer.mjs) offers: the interop matrix
// runs 1..7 (the PQ code points differ between stacks, see docs/POST_QUANTUM.md).
export const RFC_SUITES = [1, 2, 3, 4, 5, 6, 7];
export const SUITES = [...RFC_SUITES, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88];

// ---------------------------------------------------------------- helpers

function fromHex(hex, what) {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new DriverError(`${what} must be a hex string`);
  }
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

function toHex(bytes) {
  return Buffer.from(bytes).toString("hex");
}

// Complaints about the request itself (bad handle, malformed hex, wrong message type):
// a bug in the caller, reported under a kind no ts-mls error uses, so the Python side
// never mistakes one for ts-mls rejecting a message.
export class DriverError extends Error {
  constructor(message) {
    super(message);
    this.name = "DriverError";
  }
}

// ts-mls refusing the input (as opposed to the caller misusing the driver): bytes that
// do not decode, a Welcome for none of our KeyPackages. Reported like ts-mls's own errors.
export class Rejected extends Error {
  constructor(kind, message) {
    super(message);
    this.name = kind;
  }
}

// Decodes exactly one MLSMessage: ts-mls decoders report how much they consumed and
// leave trailing bytes to the caller, so trailing garbage would otherwise pass.
export function decodeWhole(bytes, what) {
  const decoded = decodeMlsMessage(bytes, 0);
  if (decoded === undefined) throw new Rejected("DecodeError", `${what}: not an MLSMessage`);
  const [message, consumed] = decoded;
  if (consumed !== bytes.length) {
    throw new Rejected("DecodeError", `${what}: MLSMessage ends at byte ${consumed} of ${bytes.length}`);
  }
  return message;
}

// Applications are expected to wipe the secrets ts-mls reports as consumed (its README
// does); doing the same here means the interop run exercises ts-mls's key deletion
// exactly as a real deployment would, not a more forgiving variant.
export function wipe(consumed) {
  for (const secret of consumed ?? []) zeroOutUint8Array(secret);
}

// ---------------------------------------------------------------- state

let nextHandle = 1;
const clients = new Map(); // handle -> {identity, suite, cs, sigKeys, pending: [{publicPackage, privatePackage}]}
const groups = new Map(); // handle -> {client, state}
const suiteImpls = new Map(); // suite id -> CiphersuiteImpl (creating one is not free)

export async function suiteImpl(suite) {
  if (!SUITES.includes(suite)) throw new DriverError(`cipher suite ${suite} not offered (have ${SUITES})`);
  if (!suiteImpls.has(suite)) suiteImpls.set(suite, await getCiphersuiteImpl(getCiphersuiteFromId(suite)));
  return suiteImpls.get(suite);
}

function getClient(handle) {
  const client = clients.get(handle);
  if (client === undefined) throw new DriverError(`no client with handle ${handle}`);
  return client;
}

function getGroup(handle) {
  const group = groups.get(handle);
  if (group === undefined) throw new DriverError(`no group with handle ${handle}`);
  return group;
}

function addGroup(client, state) {
  const handle = nextHandle++;
  groups.set(handle, { client, state });
  return handle;
}

export function leafIndexOf(state, identity, signatureKey) {
  // Leaves sit at even node indices; leaf i is node 2i.
  for (let node = 0; node < state.ratchetTree.length; node += 2) {
    const entry = state.ratchetTree[node];
    if (entry?.nodeType !== "leaf") continue;
    const leaf = entry.leaf;
    if (leaf.credential.credentialType !== "basic") continue;
    if (Buffer.compare(Buffer.from(leaf.credential.identity), Buffer.from(identity)) !== 0) continue;
    if (signatureKey !== undefined && Buffer.compare(Buffer.from(leaf.signaturePublicKey), Buffer.from(signatureKey)) !== 0) continue;
    return node / 2;
  }
  return undefined;
}

// The leaf of the member a request names by identity (and signature key).
function findLeaf(state, req) {
  const identity = fromHex(req.identity, "identity");
  const signatureKey = req.signature_key ? fromHex(req.signature_key, "signature_key") : undefined;
  const leaf = leafIndexOf(state, identity, signatureKey);
  if (leaf === undefined) throw new DriverError(`no member with identity ${req.identity} in the group`);
  return leaf;
}

function members(state) {
  const out = [];
  for (let node = 0; node < state.ratchetTree.length; node += 2) {
    const entry = state.ratchetTree[node];
    if (entry?.nodeType !== "leaf") continue;
    const leaf = entry.leaf;
    out.push({
      leaf_index: node / 2,
      identity: leaf.credential.credentialType === "basic" ? toHex(leaf.credential.identity) : null,
      signature_key: toHex(leaf.signaturePublicKey),
    });
  }
  return out;
}

// The facts about a group every response that changes it reports, so the Python side
// can assert on them without another round trip.
function summary(state) {
  return {
    epoch: Number(state.groupContext.epoch),
    own_leaf_index: state.privatePath.leafIndex,
    removed: state.groupActiveState.kind === "removedFromGroup",
  };
}

async function commitResult(group, result) {
  group.state = result.newState;
  wipe(result.consumed);
  return {
    commit: toHex(encodeMlsMessage(result.commit)),
    welcome:
      result.welcome === undefined
        ? null
        : toHex(encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: result.welcome })),
    ratchet_tree: toHex(encodeRatchetTree(result.newState.ratchetTree)),
    ...summary(result.newState),
  };
}

// Options every commit-making operation understands: PublicMessage framing for
// handshake (ts-mls defaults to PrivateMessage) and the ratchet_tree extension in the
// Welcome's GroupInfo (off by default in ts-mls; without it the joiner needs the tree
// out of band).
function commitOptions(req) {
  return {
    wireAsPublicMessage: req.public === true,
    ratchetTreeExtension: req.ratchet_tree_extension !== false,
  };
}

// A KeyPackage of the client's signing identity (with its private parts), for a leaf of
// its own in a group it creates.
export function ownKeyPackage(client) {
  const credential = { credentialType: "basic", identity: client.identity };
  return generateKeyPackageWithKey(credential, defaultCapabilities(), defaultLifetime, [], client.sigKeys, client.cs);
}

function keyPackagesOf(req) {
  return (req.key_packages ?? []).map((hex, i) => {
    const message = decodeWhole(fromHex(hex, "key package"), `key_packages[${i}]`);
    if (message.wireformat !== "mls_key_package") {
      throw new DriverError(`key_packages[${i}] is a ${message.wireformat}, not a KeyPackage`);
    }
    return message.keyPackage;
  });
}

// The Welcome of a request and the client's pending KeyPackage it is for (RFC 9420
// §12.4.3.1: EncryptedGroupSecrets.new_member is the KeyPackageRef), and the ratchet
// tree given out of band, if any.
async function welcomeFor(client, req) {
  const message = decodeWhole(fromHex(req.welcome, "welcome"), "welcome");
  if (message.wireformat !== "mls_welcome") throw new DriverError(`expected a Welcome, got ${message.wireformat}`);
  const welcome = message.welcome;
  let match = -1;
  for (let i = 0; i < client.pending.length && match < 0; i++) {
    const ref = await makeKeyPackageRef(client.pending[i].publicPackage, client.cs.hash);
    if (welcome.secrets.some((s) => Buffer.compare(Buffer.from(s.newMember), Buffer.from(ref)) === 0)) match = i;
  }
  if (match < 0) throw new Rejected("NoMatchingKeyPackage", "the Welcome is for none of this client's KeyPackages");
  let tree;
  if (req.ratchet_tree) {
    const bytes = fromHex(req.ratchet_tree, "ratchet_tree");
    const decoded = decodeRatchetTree(bytes, 0);
    if (decoded === undefined || decoded[1] !== bytes.length) throw new Rejected("DecodeError", "ratchet_tree does not decode");
    tree = decoded[0];
  }
  const kp = client.pending[match];
  // A KeyPackage is single-use (RFC 9420 §16.8): forget it once a join has used it (a
  // refused join leaves it, as the Welcome may come again with the tree).
  const used = () => client.pending.splice(client.pending.indexOf(kp), 1);
  return { welcome, kp, tree, used };
}

// A new group tied to `group` by a resumption PSK (§11.2 reinit, §11.3 branch), made by
// `make(ownKeyPackage)`; ts-mls puts no ratchet_tree extension in its Welcome, so the
// tree comes back for the joiners.
async function successor(group, groupId, make) {
  const result = await make(await ownKeyPackage(group.client));
  wipe(result.consumed);
  const handle = addGroup(group.client, result.newState);
  return {
    group: handle,
    group_id: toHex(groupId),
    welcome: toHex(encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: result.welcome })),
    ratchet_tree: toHex(encodeRatchetTree(result.newState.ratchetTree)),
    ...summary(result.newState),
  };
}

// Join such a group from its Welcome: `join(old, welcome, kp, tree, client)` with the
// request's old_group.
async function joinSuccessor(req, join) {
  const client = getClient(req.client);
  const old = getGroup(req.old_group);
  const { welcome, kp, tree, used } = await welcomeFor(client, req);
  const state = await join(old, welcome, kp, tree, client);
  used();
  const handle = addGroup(client, state);
  return { group: handle, group_id: toHex(state.groupContext.groupId), ...summary(state) };
}

// ---------------------------------------------------------------- operations

const OPS = {
  async hello() {
    return { node: process.version, "ts-mls": TS_MLS_VERSION, suites: SUITES };
  },

  async new_client(req) {
    const suite = req.suite ?? 1;
    const cs = await suiteImpl(suite);
    // One signature key per client, reused by all its KeyPackages (generateKeyPackage
    // would draw a fresh one each time), so a client has one stable signing identity
    // the way mls-rs and mlswire clients do.
    const generated = await cs.signature.keygen();
    const sigKeys =
      req.rfc_signature_keys === false ? generated : await conformingSignatureKeys(suite, generated);
    const handle = nextHandle++;
    clients.set(handle, {
      identity: fromHex(req.identity, "identity"),
      suite,
      cs,
      sigKeys,
      pending: [],
    });
    return { client: handle, signature_key: toHex(sigKeys.publicKey) };
  },

  async key_package(req) {
    const client = getClient(req.client);
    const credential = { credentialType: "basic", identity: client.identity };
    const kp = await generateKeyPackageWithKey(
      credential,
      defaultCapabilities(),
      defaultLifetime,
      [],
      client.sigKeys,
      client.cs,
    );
    client.pending.push(kp);
    const message = { version: "mls10", wireformat: "mls_key_package", keyPackage: kp.publicPackage };
    return { key_package: toHex(encodeMlsMessage(message)) };
  },

  async create_group(req) {
    const client = getClient(req.client);
    const groupId = req.group_id ? fromHex(req.group_id, "group_id") : client.cs.rng.randomBytes(16);
    // A group's creator needs a leaf: a KeyPackage made for the purpose, never published.
    const kp = await ownKeyPackage(client);
    const state = await createGroup(groupId, kp.publicPackage, kp.privatePackage, [], client.cs);
    const handle = addGroup(client, state);
    return { group: handle, group_id: toHex(groupId), ...summary(state) };
  },

  async add_members(req) {
    const group = getGroup(req.group);
    const proposals = keyPackagesOf(req).map((keyPackage) => ({ proposalType: "add", add: { keyPackage } }));
    if (proposals.length === 0) throw new DriverError("add_members needs at least one KeyPackage");
    const result = await createCommit(
      { state: group.state, cipherSuite: group.client.cs },
      { ...commitOptions(req), extraProposals: proposals },
    );
    return commitResult(group, result);
  },

  // A commit without proposals: RFC 9420 §12.4 requires it to carry an UpdatePath, so
  // this is the "self-update" a member does to refresh its leaf and the path secrets.
  async commit(req) {
    const group = getGroup(req.group);
    const result = await createCommit({ state: group.state, cipherSuite: group.client.cs }, commitOptions(req));
    return commitResult(group, result);
  },

  async remove_member(req) {
    const group = getGroup(req.group);
    const leaf = findLeaf(group.state, req);
    const result = await createCommit(
      { state: group.state, cipherSuite: group.client.cs },
      { ...commitOptions(req), extraProposals: [{ proposalType: "remove", remove: { removed: leaf } }] },
    );
    return commitResult(group, result);
  },

  // A Remove proposal sent on its own (the proposer caches it too), for another member
  // to commit by reference.
  async propose_remove(req) {
    const group = getGroup(req.group);
    const leaf = findLeaf(group.state, req);
    const result = await createProposal(
      group.state,
      req.public === true,
      { proposalType: "remove", remove: { removed: leaf } },
      group.client.cs,
    );
    group.state = result.newState;
    wipe(result.consumed);
    return { message: toHex(encodeMlsMessage(result.message)), ...summary(group.state) };
  },

  async join(req) {
    const client = getClient(req.client);
    const { welcome, kp, tree, used } = await welcomeFor(client, req);
    const state = await joinGroup(welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, client.cs, tree);
    used();
    const handle = addGroup(client, state);
    return { group: handle, group_id: toHex(state.groupContext.groupId), ...summary(state) };
  },

  // A subgroup of this member and the owners of key_packages, tied to the group's
  // current epoch by a resumption PSK with usage branch (RFC 9420 §11.3).
  async branch(req) {
    const group = getGroup(req.group);
    const groupId = req.group_id ? fromHex(req.group_id, "group_id") : group.client.cs.rng.randomBytes(16);
    return successor(group, groupId, (kp) =>
      branchGroup(group.state, kp.publicPackage, kp.privatePackage, keyPackagesOf(req), groupId, group.client.cs),
    );
  },

  // Commit a ReInit (RFC 9420 §11.2) of the group into group_id, same version, and the
  // same suite unless `cipher_suite` (an id) names another.
  async reinit(req) {
    const group = getGroup(req.group);
    const ctx = group.state.groupContext;
    let suite = ctx.cipherSuite;
    if (req.cipher_suite !== undefined && req.cipher_suite !== null) {
      await suiteImpl(req.cipher_suite); // offered?
      suite = getCiphersuiteNameFromId(req.cipher_suite);
    }
    const result = await reinitGroup(group.state, fromHex(req.group_id, "group_id"), ctx.version, suite, [], group.client.cs);
    return commitResult(group, result);
  },

  // After a ReInit was committed: the new group it asks for, with the owners of
  // key_packages (the other members' new KeyPackages), tied to the old group by a
  // resumption PSK with usage reinit.
  // `client`: the member's client in the new suite when the ReInit changes it (its own
  // leaf comes from a KeyPackage of that client).
  async reinit_successor(req) {
    const group = getGroup(req.group);
    const reinit = group.state.groupActiveState.reinit;
    if (reinit === undefined) throw new DriverError("no ReInit was committed in this group");
    const owner = req.client === undefined || req.client === null ? group : { ...group, client: getClient(req.client) };
    return successor(owner, reinit.groupId, (kp) =>
      reinitCreateNewGroup(
        group.state, kp.publicPackage, kp.privatePackage, keyPackagesOf(req), reinit.groupId, reinit.cipherSuite, reinit.extensions,
      ),
    );
  },

  // Join the group a ReInit of old_group asked for (§11.2) from its Welcome.
  async join_reinit(req) {
    return joinSuccessor(req, (old, welcome, kp, tree) =>
      joinGroupFromReinit(old.state, welcome, kp.publicPackage, kp.privatePackage, tree),
    );
  },

  // Join a branch of old_group (§11.3) from its Welcome.
  async join_branch(req) {
    return joinSuccessor(req, (old, welcome, kp, tree, client) =>
      joinGroupFromBranch(old.state, welcome, kp.publicPackage, kp.privatePackage, tree, client.cs),
    );
  },

  // A signed GroupInfo MLSMessage of the current epoch with external_pub and the
  // ratchet_tree extension, for an external joiner (RFC 9420 §12.4.3.2).
  //
  // RFC 9420 §12.4.3.2: the extension holds `struct { HPKEPublicKey external_pub; }`,
  // a length-prefixed key (HPKEPublicKey is opaque<V>). ts-mls 1.6.4 writes the bare
  // key (createGroupInfoWithExternalPub) and reads it bare (joinGroupExternal), so no
  // conforming peer can join its groups externally (docs/INTEROP.md). By default the
  // driver has ts-mls sign a GroupInfo whose external_pub is RFC-encoded: the same
  // key, derived by ts-mls from the epoch's external_secret, and ts-mls's own
  // signature; `rfc_external_pub: false` gives ts-mls's own encoding (the tripwire in
  // tests/interop/test_pq_interop.py).
  async external_group_info(req) {
    const group = getGroup(req.group);
    const { state } = group;
    const cs = group.client.cs;
    let groupInfo;
    if (req.rfc_external_pub === false) {
      groupInfo = await createGroupInfoWithExternalPubAndRatchetTree(state, [], cs);
    } else {
      const keyPair = await cs.hpke.deriveKeyPair(state.keySchedule.externalSecret);
      const externalPub = await cs.hpke.exportPublicKey(keyPair.publicKey);
      groupInfo = await createGroupInfo(state.groupContext, state.confirmationTag, state, [
        { extensionType: "external_pub", extensionData: encode(varLenDataEncoder)(externalPub) },
        { extensionType: "ratchet_tree", extensionData: encodeRatchetTree(state.ratchetTree) },
      ], cs);
    }
    return { group_info: toHex(encodeMlsMessage({ version: "mls10", wireformat: "mls_group_info", groupInfo })) };
  },

  // Join by an external Commit (§12.4.3.2) from a GroupInfo MLSMessage (the tree from
  // its extension, or ratchet_tree out of band), with a leaf of a KeyPackage made for
  // the purpose; the Commit (a PublicMessage, as the RFC requires) goes to the members.
  // ts-mls reads external_pub as the bare key (see external_group_info): from an
  // RFC-encoded GroupInfo it fails, and the driver does not change that.
  async external_join(req) {
    const client = getClient(req.client);
    const message = decodeWhole(fromHex(req.group_info, "group_info"), "group_info");
    if (message.wireformat !== "mls_group_info") throw new DriverError(`expected a GroupInfo, got ${message.wireformat}`);
    let tree;
    if (req.ratchet_tree) {
      const bytes = fromHex(req.ratchet_tree, "ratchet_tree");
      const decoded = decodeRatchetTree(bytes, 0);
      if (decoded === undefined || decoded[1] !== bytes.length) throw new Rejected("DecodeError", "ratchet_tree does not decode");
      tree = decoded[0];
    }
    const kp = await ownKeyPackage(client);
    const result = await joinGroupExternal(message.groupInfo, kp.publicPackage, kp.privatePackage, false, client.cs, tree);
    const handle = addGroup(client, result.newState);
    const commit = { version: "mls10", wireformat: "mls_public_message", publicMessage: result.publicMessage };
    return {
      group: handle,
      group_id: toHex(result.newState.groupContext.groupId),
      commit: toHex(encodeMlsMessage(commit)),
      ...summary(result.newState),
    };
  },

  async encrypt(req) {
    const group = getGroup(req.group);
    const result = await createApplicationMessage(group.state, fromHex(req.data, "data"), group.client.cs);
    group.state = result.newState;
    wipe(result.consumed);
    const message = { version: "mls10", wireformat: "mls_private_message", privateMessage: result.privateMessage };
    return { message: toHex(encodeMlsMessage(message)), ...summary(group.state) };
  },

  async process(req) {
    const group = getGroup(req.group);
    const message = decodeWhole(fromHex(req.message, "message"), "message");
    let contentType;
    if (message.wireformat === "mls_private_message") contentType = message.privateMessage.contentType;
    else if (message.wireformat === "mls_public_message") contentType = message.publicMessage.content.contentType;
    else throw new DriverError(`cannot process a ${message.wireformat} as a group message`);
    const result = await processMessage(message, group.state, emptyPskIndex, acceptAll, group.client.cs);
    group.state = result.newState;
    wipe(result.consumed);
    if (result.kind === "applicationMessage") {
      return { kind: "application", data: toHex(result.message), ...summary(group.state) };
    }
    // ts-mls applies an accepted commit at once (there is no separate merge step), so
    // "commit" here means: applied, and the epoch reported is the new one.
    return { kind: contentType === "commit" ? "commit" : "proposal", ...summary(group.state) };
  },

  async export_secret(req) {
    const group = getGroup(req.group);
    // ts-mls takes the exporter label as a string and prefixes "MLS 1.0 " itself.
    const label = new TextDecoder("utf-8", { fatal: true }).decode(fromHex(req.label, "label"));
    const secret = await mlsExporter(
      group.state.keySchedule.exporterSecret,
      label,
      fromHex(req.context ?? "", "context"),
      req.length,
      group.client.cs,
    );
    return { secret: toHex(secret) };
  },

  async group_info(req) {
    const group = getGroup(req.group);
    const state = group.state;
    return {
      ...summary(state),
      group_id: toHex(state.groupContext.groupId),
      epoch_authenticator: toHex(state.keySchedule.epochAuthenticator),
      tree_hash: toHex(state.groupContext.treeHash),
      ratchet_tree: toHex(encodeRatchetTree(state.ratchetTree)),
      members: members(state),
    };
  },

  // Decode each value as the RFC 9420 type `type` and re-encode it (no group needed):
  // result {results: [null if byte-identical, else the reason, ...]} in input order.
  codec_roundtrip(req) {
    const codec = CODECS[req.type];
    if (codec === undefined) {
      throw new DriverError(`no ts-mls codec for ${req.type} (have ${Object.keys(CODECS)})`);
    }
    const [decode, encode] = codec;
    return { results: req.values.map((hex, i) => checkOne(decode, encode, fromHex(hex, `values[${i}]`))) };
  },

};

// ---------------------------------------------------------------- loop

async function handle(line) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (err) {
    return { id: null, ok: false, kind: "ProtocolError", error: `bad JSON request: ${err.message}` };
  }
  const op = OPS[req.op];
  if (op === undefined) return { id: req.id ?? null, ok: false, kind: "ProtocolError", error: `unknown op ${req.op}` };
  try {
    return { id: req.id ?? null, ok: true, result: await op(req) };
  } catch (err) {
    const kind = err?.name ?? "Error";
    return { id: req.id ?? null, ok: false, kind, error: `${kind}: ${err?.message ?? String(err)}` };
  }
}

// The helpers above are shared with the gRPC peer (grpc-peer.mjs), which imports this
// module: the JSON-lines loop runs only when this file is the program.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.trim() === "") continue;
    const response = await handle(line);
    process.stdout.write(JSON.stringify(response) + "\n");
  }
}
