// ts-mls behind the interop harness's gRPC interface (service mls_client.MLSClient of
// mlswire/interop/mls_client.proto), for `mlswire interop run` and the official Go
// runner alike:
//
//   node node/grpc-peer.mjs [--port 50052]
//
// It prints "listening on PORT" on stdout once it serves. It shares its ts-mls plumbing
// with the JSON-lines driver interop-peer.mjs (KeyPackages, conforming ECDSA keys,
// whole-message decoding, secret wiping). Requests are served one at a time.
//
// Where ts-mls 1.6.4 cannot do what a request asks, the answer is UNIMPLEMENTED with
// the reason, never a silently different result:
//   * UpdateProposal (ts-mls has no API to make an Update proposal);
//   * force_path on a commit that RFC 9420 §12.4 does not require a path for (ts-mls
//     adds an UpdatePath only when required), and on reinit/branch Welcomes;
//   * ExternalJoin with PSKs (joinGroupExternal takes none);
//   * CreateBranch with extensions that differ from the group's (branchGroup keeps them);
//   * reinit/branch Welcomes without external_tree (ts-mls's successor Welcome carries no
//     ratchet_tree extension, so joiners need the tree out of band).

import { fileURLToPath } from "node:url";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import {
  acceptAll,
  branchGroup,
  bytesToBase64,
  ciphersuites,
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPub,
  createGroupInfoWithExternalPubAndRatchetTree,
  createProposal,
  defaultCapabilities,
  defaultExtensionTypes,
  defaultLifetime,
  encodeExternalSender,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  joinGroup,
  joinGroupExternal,
  joinGroupFromBranch,
  joinGroupFromReinit,
  makePskIndex,
  mlsExporter,
  processPrivateMessage,
  processPublicMessage,
  proposeAddExternal,
  proposeExternal,
  reinitCreateNewGroup,
} from "ts-mls";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";

import {
  RFC_SUITES as SUITES,
  TS_MLS_VERSION,
  conformingSignatureKeys,
  decodeWhole,
  leafIndexOf,
  ownKeyPackage,
  suiteImpl,
  wipe,
} from "./interop-peer.mjs";

const PROTO = fileURLToPath(new URL("../mlswire/interop/mls_client.proto", import.meta.url));
const NAME = `ts-mls ${TS_MLS_VERSION}`;

// ---------------------------------------------------------------- errors

class Status extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}
const unimplemented = (why) => new Status(grpc.status.UNIMPLEMENTED, `ts-mls: ${why}`);
const notFound = (what) => new Status(grpc.status.NOT_FOUND, `ts-mls peer: ${what}`);
const badRequest = (what) => new Status(grpc.status.INVALID_ARGUMENT, `ts-mls peer: ${what}`);

// ---------------------------------------------------------------- codecs

const SUITE_NAME = Object.fromEntries(Object.entries(ciphersuites).map(([name, id]) => [id, name]));
const EXTENSION_NAME = Object.fromEntries(Object.entries(defaultExtensionTypes).map(([n, id]) => [id, n]));

const bytes = (b) => Uint8Array.from(b ?? []);
const mls = (wireformat, field, value) => encodeMlsMessage({ version: "mls10", wireformat, [field]: value });

function message(data, wireformat, what) {
  const m = decodeWhole(bytes(data), what);
  if (m.wireformat !== wireformat) throw badRequest(`${what}: expected ${wireformat}, got ${m.wireformat}`);
  return m;
}

function tree(data) {
  if (!data || data.length === 0) return undefined;
  const b = bytes(data);
  const decoded = decodeRatchetTree(b, 0);
  if (decoded === undefined || decoded[1] !== b.length) throw badRequest("ratchet_tree does not decode");
  return decoded[0];
}

// Extensions as ts-mls spells them: the RFC's types by name, others by number.
function extensions(list) {
  return (list ?? []).map((e) => ({
    extensionType: EXTENSION_NAME[e.extension_type] ?? e.extension_type,
    extensionData: bytes(e.extension_data),
  }));
}

function extensionNumber(t) {
  return typeof t === "number" ? t : defaultExtensionTypes[t];
}

// An MLS variable-length vector header (RFC 9420 §2.1.2) and its length.
function readVarint(b) {
  const prefix = b[0] >> 6;
  const size = 1 << prefix;
  let n = b[0] & 0x3f;
  for (let i = 1; i < size; i++) n = n * 256 + b[i];
  return [n, size];
}

function varint(n) {
  if (n < 1 << 6) return Uint8Array.of(n);
  if (n < 1 << 14) return Uint8Array.of(0x40 | (n >> 8), n & 0xff);
  return Uint8Array.of(0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

// ---------------------------------------------------------------- state

let next = 1;
const clients = new Map(); // identity hex / suite -> client (one per identity and suite)
const states = new Map(); // state_id -> {client, state, encrypt, pending, own}
const transactions = new Map(); // transaction_id -> {client, kp}
const reinits = new Map(); // reinit_id -> {old, client, kp}
const signers = new Map(); // signer_id -> {cs, sigKeys}

function table(map, id, what) {
  const value = map.get(id);
  if (value === undefined) throw notFound(`no ${what} with id ${id}`);
  return value;
}

async function client(identity, suite) {
  if (!SUITES.includes(suite)) throw unimplemented(`cipher suite ${suite} not offered (offered ${SUITES})`);
  const key = `${Buffer.from(identity).toString("hex")}/${suite}`;
  if (!clients.has(key)) {
    const cs = await suiteImpl(suite);
    const sigKeys = await conformingSignatureKeys(suite, await cs.signature.keygen());
    clients.set(key, { identity: bytes(identity), suite, cs, sigKeys, pending: [], psks: {} });
  }
  return clients.get(key);
}

async function keyPackage(c) {
  const credential = { credentialType: "basic", identity: c.identity };
  return generateKeyPackageWithKey(credential, defaultCapabilities(), defaultLifetime, [], c.sigKeys, c.cs);
}

function addState(c, state, encrypt) {
  const id = next++;
  states.set(id, { client: c, state, encrypt, pending: null, own: new Set() });
  return id;
}

const psks = (rec) => makePskIndex(rec?.state, rec?.client.psks ?? {});
const ea = (state) => state.keySchedule.epochAuthenticator;
const hex = (b) => Buffer.from(b).toString("hex");

// ts-mls keeps Ed25519 private keys (suites 1, 3) as PKCS#8 (WebCrypto's export); test
// vectors carry the raw 32-byte key (RFC 8032), which follows this fixed header.
const ED25519_PKCS8 = Buffer.from("302e020100300506032b657004220420", "hex");

function rawSignaturePrivateKey(key) {
  const k = Buffer.from(key);
  if (k.length === 48 && k.subarray(0, 16).equals(ED25519_PKCS8)) return k.subarray(16);
  return k;
}

function transactionReply(c, kp) {
  const id = next++;
  transactions.set(id, { client: c, kp });
  return {
    transaction_id: id,
    init_priv: kp.privatePackage.initPrivateKey,
    encryption_priv: kp.privatePackage.hpkePrivateKey,
    signature_priv: rawSignaturePrivateKey(kp.privatePackage.signaturePrivateKey),
  };
}

// A member's state gets a proposal or commit from the group: its own proposals are
// cached already (ts-mls cannot decrypt its own PrivateMessages), the others processed.
async function receive(rec, data) {
  if (rec.own.has(hex(data))) return undefined;
  const m = decodeWhole(bytes(data), "message");
  if (m.wireformat !== "mls_private_message" && m.wireformat !== "mls_public_message") {
    throw badRequest(`expected a group message, got ${m.wireformat}`);
  }
  // ts-mls 1.6.4's processMessage hands PrivateMessages an empty PSK index, so a
  // commit with PSKs fails there; the per-wire-format functions take the index given.
  const result =
    m.wireformat === "mls_private_message"
      ? await processPrivateMessage(rec.state, m.privateMessage, psks(rec), rec.client.cs, acceptAll)
      : { kind: "newState", ...(await processPublicMessage(rec.state, m.publicMessage, psks(rec), rec.client.cs, acceptAll)) };
  rec.state = result.newState;
  wipe(result.consumed);
  return result;
}

async function propose(rec, proposal) {
  const result = await createProposal(rec.state, !rec.encrypt, proposal, rec.client.cs);
  rec.state = result.newState;
  wipe(result.consumed);
  const out = encodeMlsMessage(result.message);
  rec.own.add(hex(out));
  return { proposal: out };
}

function memberLeaf(state, identity) {
  const leaf = leafIndexOf(state, bytes(identity));
  if (leaf === undefined) throw badRequest(`no member with identity ${hex(identity)}`);
  return leaf;
}

function pskProposal(id) {
  return { proposalType: "psk", psk: { preSharedKeyId: id } };
}

// A ProposalDescription as a ts-mls Proposal; `ratchetTree` names members for a remove.
function describe(d, groupId, ratchetTree, cs) {
  const kind = Buffer.from(d.proposal_type).toString("utf8");
  const nonce = () => cs.rng.randomBytes(cs.kdf.size);
  switch (kind) {
    case "add":
      return { proposalType: "add", add: { keyPackage: message(d.key_package, "mls_key_package", "key_package").keyPackage } };
    case "remove":
      return { proposalType: "remove", remove: { removed: memberLeaf({ ratchetTree }, d.removed_id) } };
    case "externalPSK":
      return pskProposal({ psktype: "external", pskId: bytes(d.psk_id), pskNonce: nonce() });
    case "resumptionPSK":
      return pskProposal({
        psktype: "resumption",
        usage: "application",
        pskGroupId: groupId,
        pskEpoch: BigInt(d.epoch_id),
        pskNonce: nonce(),
      });
    case "groupContextExtensions":
      return { proposalType: "group_context_extensions", groupContextExtensions: { extensions: extensions(d.extensions) } };
    case "reinit":
      return reinitProposal(d.group_id, d.cipher_suite, d.extensions);
    default:
      throw unimplemented(`unknown proposal type ${kind}`);
  }
}

function reinitProposal(groupId, suite, exts) {
  const cipherSuite = SUITE_NAME[suite];
  if (cipherSuite === undefined) throw unimplemented(`no cipher suite ${suite}`);
  return { proposalType: "reinit", reinit: { groupId: bytes(groupId), version: "mls10", cipherSuite, extensions: extensions(exts) } };
}

// RFC 9420 §12.4: a path is required unless every proposal is an Add, PSK or ReInit
// (and there is at least one). ts-mls adds one exactly then.
function pathRequired(proposals) {
  return proposals.length === 0 || proposals.some((p) => !["add", "psk", "reinit"].includes(p.proposalType));
}

function unappliedProposals(state) {
  return Object.values(state.unappliedProposals ?? {}).map((p) => p.proposal);
}

async function commit(req) {
  const rec = table(states, req.state_id, "state");
  for (const p of req.by_reference) await receive(rec, p);
  const byValue = req.by_value.map((d) => describe(d, rec.state.groupContext.groupId, rec.state.ratchetTree, rec.client.cs));
  if (req.force_path && !pathRequired([...unappliedProposals(rec.state), ...byValue])) {
    throw unimplemented("force_path: ts-mls includes an UpdatePath only when RFC 9420 §12.4 requires one");
  }
  const result = await createCommit(
    { state: rec.state, cipherSuite: rec.client.cs, pskIndex: psks(rec) },
    { wireAsPublicMessage: !rec.encrypt, extraProposals: byValue, ratchetTreeExtension: !req.external_tree },
  );
  // Applied when the runner says the commit went through (HandlePendingCommit).
  rec.pending = result;
  return {
    commit: encodeMlsMessage(result.commit),
    welcome: result.welcome === undefined ? new Uint8Array() : mls("mls_welcome", "welcome", result.welcome),
    ratchet_tree: req.external_tree ? encodeRatchetTree(result.newState.ratchetTree) : new Uint8Array(),
  };
}

function mergePending(req) {
  const rec = table(states, req.state_id, "state");
  if (rec.pending !== null) {
    rec.state = rec.pending.newState;
    wipe(rec.pending.consumed);
    rec.pending = null;
  }
  return rec;
}

async function handleCommit(req) {
  const rec = table(states, req.state_id, "state");
  for (const p of req.proposal) await receive(rec, p);
  await receive(rec, req.commit);
  return rec;
}

async function reinitReply(rec) {
  const active = rec.state.groupActiveState;
  if (active.kind !== "suspendedPendingReinit") throw badRequest("the commit did not commit a ReInit");
  const c = await client(rec.client.identity, ciphersuites[active.reinit.cipherSuite]);
  const kp = await keyPackage(c);
  const id = next++;
  reinits.set(id, { old: rec, client: c, kp });
  return { reinit_id: id, key_package: mls("mls_key_package", "keyPackage", kp.publicPackage), epoch_authenticator: ea(rec.state) };
}

function keyPackages(list) {
  return list.map((kp, i) => message(kp, "mls_key_package", `key_package[${i}]`).keyPackage);
}

function successorReply(rec, result, externalTree) {
  wipe(result.consumed);
  const id = addState(rec.client, result.newState, rec.encrypt);
  return {
    state_id: id,
    welcome: mls("mls_welcome", "welcome", result.welcome),
    ratchet_tree: externalTree ? encodeRatchetTree(result.newState.ratchetTree) : new Uint8Array(),
    epoch_authenticator: ea(result.newState),
  };
}

function successorLimits(req, what) {
  if (req.force_path) throw unimplemented(`${what}: cannot force an UpdatePath in the new group's first commit`);
  if (!req.external_tree) {
    throw unimplemented(`${what}: the Welcome carries no ratchet_tree extension; the joiners need external_tree`);
  }
}

// ---------------------------------------------------------------- RPCs

const RPCS = {
  async Name() {
    return { name: NAME };
  },
  async SupportedCiphersuites() {
    return { ciphersuites: SUITES };
  },

  async CreateGroup(req) {
    const c = await client(req.identity, req.cipher_suite);
    const kp = await ownKeyPackage(c);
    const state = await createGroup(bytes(req.group_id), kp.publicPackage, kp.privatePackage, [], c.cs);
    return { state_id: addState(c, state, req.encrypt_handshake) };
  },

  async CreateKeyPackage(req) {
    const c = await client(req.identity, req.cipher_suite);
    const kp = await keyPackage(c);
    return { key_package: mls("mls_key_package", "keyPackage", kp.publicPackage), ...transactionReply(c, kp) };
  },

  async JoinGroup(req) {
    const { client: c, kp } = table(transactions, req.transaction_id, "transaction");
    const welcome = message(req.welcome, "mls_welcome", "welcome").welcome;
    const state = await joinGroup(welcome, kp.publicPackage, kp.privatePackage, makePskIndex(undefined, c.psks), c.cs, tree(req.ratchet_tree));
    return { state_id: addState(c, state, req.encrypt_handshake), epoch_authenticator: ea(state) };
  },

  async ExternalJoin(req) {
    if (req.psks.length > 0) throw unimplemented("ExternalJoin with PSKs: joinGroupExternal takes none");
    const info = message(req.group_info, "mls_group_info", "group_info").groupInfo;
    const c = await client(req.identity, ciphersuites[info.groupContext.cipherSuite]);
    const kp = await ownKeyPackage(c);
    const { publicMessage, newState } = await joinGroupExternal(info, kp.publicPackage, kp.privatePackage, req.remove_prior, c.cs, tree(req.ratchet_tree));
    return {
      state_id: addState(c, newState, req.encrypt_handshake),
      commit: mls("mls_public_message", "publicMessage", publicMessage),
      epoch_authenticator: ea(newState),
    };
  },

  async GroupInfo(req) {
    const rec = table(states, req.state_id, "state");
    const make = req.external_tree ? createGroupInfoWithExternalPub : createGroupInfoWithExternalPubAndRatchetTree;
    const info = await make(rec.state, [], rec.client.cs);
    return {
      group_info: mls("mls_group_info", "groupInfo", info),
      ratchet_tree: req.external_tree ? encodeRatchetTree(rec.state.ratchetTree) : new Uint8Array(),
    };
  },

  async StateAuth(req) {
    return { state_auth_secret: ea(table(states, req.state_id, "state").state) };
  },

  async Export(req) {
    const rec = table(states, req.state_id, "state");
    const secret = await mlsExporter(rec.state.keySchedule.exporterSecret, req.label, bytes(req.context), req.key_length, rec.client.cs);
    return { exported_secret: secret };
  },

  async Protect(req) {
    const rec = table(states, req.state_id, "state");
    const result = await createApplicationMessage(rec.state, bytes(req.plaintext), rec.client.cs, bytes(req.authenticated_data));
    rec.state = result.newState;
    wipe(result.consumed);
    return { ciphertext: mls("mls_private_message", "privateMessage", result.privateMessage) };
  },

  async Unprotect(req) {
    const rec = table(states, req.state_id, "state");
    const m = message(req.ciphertext, "mls_private_message", "ciphertext");
    const result = await receive(rec, req.ciphertext);
    if (result?.kind !== "applicationMessage") throw badRequest("the message is not an application message");
    return { authenticated_data: m.privateMessage.authenticatedData, plaintext: result.message };
  },

  async StorePSK(req) {
    const id = req.state_or_transaction_id;
    const holder = states.get(id) ?? transactions.get(id) ?? reinits.get(id);
    if (holder === undefined) throw notFound(`no state or transaction with id ${id}`);
    holder.client.psks[bytesToBase64(bytes(req.psk_id))] = bytes(req.psk_secret);
    return {};
  },

  async AddProposal(req) {
    const rec = table(states, req.state_id, "state");
    const kp = message(req.key_package, "mls_key_package", "key_package").keyPackage;
    return propose(rec, { proposalType: "add", add: { keyPackage: kp } });
  },

  async UpdateProposal() {
    throw unimplemented("UpdateProposal: ts-mls has no API to make an Update proposal");
  },

  async RemoveProposal(req) {
    const rec = table(states, req.state_id, "state");
    return propose(rec, { proposalType: "remove", remove: { removed: memberLeaf(rec.state, req.removed_id) } });
  },

  async ExternalPSKProposal(req) {
    const rec = table(states, req.state_id, "state");
    return propose(rec, describe({ proposal_type: Buffer.from("externalPSK"), psk_id: req.psk_id }, null, null, rec.client.cs));
  },

  async ResumptionPSKProposal(req) {
    const rec = table(states, req.state_id, "state");
    const d = { proposal_type: Buffer.from("resumptionPSK"), epoch_id: req.epoch_id };
    return propose(rec, describe(d, rec.state.groupContext.groupId, null, rec.client.cs));
  },

  async GroupContextExtensionsProposal(req) {
    const rec = table(states, req.state_id, "state");
    return propose(rec, { proposalType: "group_context_extensions", groupContextExtensions: { extensions: extensions(req.extensions) } });
  },

  Commit: commit,

  async HandleCommit(req) {
    const rec = await handleCommit(req);
    return { state_id: req.state_id, epoch_authenticator: ea(rec.state) };
  },

  async HandlePendingCommit(req) {
    const rec = mergePending(req);
    return { state_id: req.state_id, epoch_authenticator: ea(rec.state) };
  },

  async ReInitProposal(req) {
    const rec = table(states, req.state_id, "state");
    return propose(rec, reinitProposal(req.group_id, req.cipher_suite, req.extensions));
  },

  ReInitCommit: commit,

  async HandlePendingReInitCommit(req) {
    return reinitReply(mergePending(req));
  },

  async HandleReInitCommit(req) {
    return reinitReply(await handleCommit(req));
  },

  async ReInitWelcome(req) {
    const r = table(reinits, req.reinit_id, "reinit");
    successorLimits(req, "ReInitWelcome");
    const { reinit } = r.old.state.groupActiveState;
    const result = await reinitCreateNewGroup(
      r.old.state, r.kp.publicPackage, r.kp.privatePackage, keyPackages(req.key_package),
      reinit.groupId, reinit.cipherSuite, reinit.extensions,
    );
    return successorReply({ client: r.client, encrypt: r.old.encrypt }, result, req.external_tree);
  },

  async HandleReInitWelcome(req) {
    const r = table(reinits, req.reinit_id, "reinit");
    const welcome = message(req.welcome, "mls_welcome", "welcome").welcome;
    const state = await joinGroupFromReinit(r.old.state, welcome, r.kp.publicPackage, r.kp.privatePackage, tree(req.ratchet_tree));
    return { state_id: addState(r.client, state, r.old.encrypt), epoch_authenticator: ea(state) };
  },

  async CreateBranch(req) {
    const rec = table(states, req.state_id, "state");
    successorLimits(req, "CreateBranch");
    const wanted = extensions(req.extensions);
    const current = rec.state.groupContext.extensions;
    const same =
      wanted.length === current.length &&
      wanted.every((e, i) => extensionNumber(e.extensionType) === extensionNumber(current[i].extensionType) && Buffer.compare(e.extensionData, current[i].extensionData) === 0);
    if (!same) throw unimplemented("CreateBranch: branchGroup keeps the group's extensions; it cannot set others");
    const kp = await ownKeyPackage(rec.client);
    const result = await branchGroup(rec.state, kp.publicPackage, kp.privatePackage, keyPackages(req.key_packages), bytes(req.group_id), rec.client.cs);
    return successorReply(rec, result, req.external_tree);
  },

  async HandleBranch(req) {
    const old = table(states, req.state_id, "state");
    const { client: c, kp } = table(transactions, req.transaction_id, "transaction");
    const welcome = message(req.welcome, "mls_welcome", "welcome").welcome;
    const state = await joinGroupFromBranch(old.state, welcome, kp.publicPackage, kp.privatePackage, tree(req.ratchet_tree), c.cs);
    return { state_id: addState(c, state, old.encrypt), epoch_authenticator: ea(state) };
  },

  async NewMemberAddProposal(req) {
    const info = message(req.group_info, "mls_group_info", "group_info").groupInfo;
    const c = await client(req.identity, ciphersuites[info.groupContext.cipherSuite]);
    const kp = await keyPackage(c);
    const proposal = await proposeAddExternal(info, kp.publicPackage, kp.privatePackage, c.cs);
    return { proposal: encodeMlsMessage(proposal), ...transactionReply(c, kp) };
  },

  async CreateExternalSigner(req) {
    if (!SUITES.includes(req.cipher_suite)) throw unimplemented(`cipher suite ${req.cipher_suite} not offered`);
    const cs = await suiteImpl(req.cipher_suite);
    const sigKeys = await conformingSignatureKeys(req.cipher_suite, await cs.signature.keygen());
    const id = next++;
    signers.set(id, { cs, sigKeys });
    const sender = { signaturePublicKey: sigKeys.publicKey, credential: { credentialType: "basic", identity: bytes(req.identity) } };
    return { signer_id: id, external_sender: encodeExternalSender(sender) };
  },

  async AddExternalSigner(req) {
    const rec = table(states, req.state_id, "state");
    const current = rec.state.groupContext.extensions;
    const old = current.find((e) => extensionNumber(e.extensionType) === 5);
    let items = new Uint8Array();
    if (old !== undefined) {
      const [length, header] = readVarint(old.extensionData);
      items = old.extensionData.slice(header, header + length);
    }
    const added = bytes(req.external_sender);
    const body = new Uint8Array([...items, ...added]);
    const data = new Uint8Array([...varint(body.length), ...body]);
    const next = current.filter((e) => extensionNumber(e.extensionType) !== 5);
    next.push({ extensionType: "external_senders", extensionData: data });
    return propose(rec, { proposalType: "group_context_extensions", groupContextExtensions: { extensions: next } });
  },

  async ExternalSignerProposal(req) {
    const signer = table(signers, req.signer_id, "signer");
    const info = message(req.group_info, "mls_group_info", "group_info").groupInfo;
    const ratchetTree = tree(req.ratchet_tree);
    const proposal = describe(req.description, info.groupContext.groupId, ratchetTree, signer.cs);
    const out = await proposeExternal(info, proposal, signer.sigKeys.publicKey, signer.sigKeys.signKey, signer.cs);
    return { proposal: encodeMlsMessage(out) };
  },

  async Free(req) {
    states.delete(req.state_id);
    return {};
  },
};

// ---------------------------------------------------------------- server

function statusOf(err) {
  if (err instanceof Status) return { code: err.code, details: err.message };
  const kind = err?.name ?? "Error";
  return { code: grpc.status.UNKNOWN, details: `ts-mls: ${kind}: ${err?.message ?? String(err)}` };
}

let queue = Promise.resolve();

function handler(name) {
  return (call, callback) => {
    queue = queue.then(async () => {
      try {
        callback(null, await RPCS[name](call.request));
      } catch (err) {
        if (process.env.MLSWIRE_GRPC_PEER_DEBUG) console.error(name, err);
        callback(statusOf(err));
      }
    });
  };
}

const definition = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true });
const service = grpc.loadPackageDefinition(definition).mls_client.MLSClient.service;
const missing = Object.keys(service).filter((m) => RPCS[m] === undefined);
if (missing.length > 0) throw new Error(`RPCs without a handler: ${missing}`);

const args = process.argv.slice(2);
const portAt = args.indexOf("--port");
const port = portAt >= 0 ? Number(args[portAt + 1]) : 50052;
const server = new grpc.Server({ "grpc.max_receive_message_length": 64 << 20, "grpc.max_send_message_length": 64 << 20 });
server.addService(service, Object.fromEntries(Object.keys(service).map((m) => [m, handler(m)])));
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    console.error(`cannot listen on port ${port}: ${err.message}`);
    process.exit(1);
  }
  process.stdout.write(`listening on ${bound}\n`);
});
