// Runs mlswire's must-reject vectors (vectors/invalid-input.json, format in
// vectors/README.md) against ts-mls as a passive client.
//
// Usage: node node/invalid-vectors.mjs vectors/invalid-input.json > results.jsonl
//
// One JSON line per case on stdout:
//   {"rule": "PL3", "cipher_suite": 1, "invalid": "rejected" | "accepted" | "not run" | "n/a",
//    "error": "...", "control": "accepted" | "refused" | "not run", "control_error": "...",
//    "continuation": "accepted" | "refused: ..." | null, "epoch_after": N, "reason": "..."}
// "epoch_after": the epoch ts-mls is in after it accepted the invalid input (a Commit
// taken moves it on).
// "not run" says why in "reason": ts-mls could not join or follow the valid epochs
// before the invalid input (then nothing can be concluded about the rule).
//
// ts-mls takes the KeyPackage's private keys explicitly when it joins (joinGroup), so
// the vector's init_priv / encryption_priv / signature_priv are used as they are. Its
// state is immutable: every attempt starts from the state it is given, which is how
// the control is tried from the same state as the invalid input.

import { readFileSync } from "node:fs";

import {
  acceptAll,
  decodeMlsMessage,
  getCiphersuiteImpl,
  joinGroup,
  joinGroupExternal,
  joinGroupFromBranch,
  joinGroupFromReinit,
  processMessage,
} from "ts-mls";
import { getCiphersuiteFromId } from "ts-mls/crypto/ciphersuite.js";
import { decodeRatchetTree } from "ts-mls/ratchetTree.js";

function fromHex(hex) {
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

function toHex(bytes) {
  return Buffer.from(bytes).toString("hex");
}

function errorText(e) {
  const name = e?.name ?? "Error";
  const message = e?.message ?? String(e);
  return `${name}: ${message}`.slice(0, 300);
}

// One MLSMessage, exactly (ts-mls leaves trailing bytes to the caller).
function decodeWhole(bytes, what) {
  const decoded = decodeMlsMessage(bytes, 0);
  if (decoded === undefined) throw new Error(`${what}: ts-mls cannot decode it as an MLSMessage`);
  const [message, consumed] = decoded;
  if (consumed !== bytes.length) throw new Error(`${what}: MLSMessage ends at byte ${consumed} of ${bytes.length}`);
  return message;
}

// The vector's external PSKs, and the resumption PSK of the group's current epoch
// (ts-mls asks the application for resumption PSKs too; the runner answers from the
// state it holds: current() is the state the next message is processed with).
function pskIndex(externalPsks, current) {
  const held = externalPsks.map((p) => [p.psk_id, fromHex(p.psk)]);
  return {
    findPsk(id) {
      if (id.psktype === "resumption") {
        const state = current();
        if (state === undefined) return undefined;
        const same = toHex(id.pskGroupId) === toHex(state.groupContext.groupId);
        return same && id.pskEpoch === state.groupContext.epoch ? state.keySchedule.resumptionPsk : undefined;
      }
      const hex = toHex(id.pskId);
      const hit = held.find(([k]) => k === hex);
      return hit === undefined ? undefined : hit[1];
    },
  };
}

const suites = new Map();
async function suiteImpl(id) {
  if (!suites.has(id)) suites.set(id, await getCiphersuiteImpl(getCiphersuiteFromId(id)));
  return suites.get(id);
}

class Setup extends Error {}

function keys(c) {
  const keyPackage = decodeWhole(fromHex(c.key_package), "key_package").keyPackage;
  const privateKeys = {
    initPrivateKey: fromHex(c.init_priv),
    hpkePrivateKey: fromHex(c.encryption_priv),
    signaturePrivateKey: fromHex(c.signature_priv),
  };
  return { keyPackage, privateKeys };
}

// An external join (RFC 9420 §12.4.3.2) from a GroupInfo MLSMessage, as the vector's
// KeyPackage (its credential, signature key and capabilities).
async function joinExternally(c, cs, infoHex, treeHex) {
  const { keyPackage, privateKeys } = keys(c);
  const info = decodeWhole(fromHex(infoHex), "group_info").groupInfo;
  if (info === undefined) throw new Error("not a GroupInfo");
  const tree = treeHex ? decodeRatchetTree(fromHex(treeHex), 0)?.[0] : undefined;
  return joinGroupExternal(info, keyPackage, privateKeys, false, cs, tree);
}

// A Welcome into a group that resumes `old` (RFC 9420 §11.2, §11.3), with the
// vector's second KeyPackage ("resumption").
async function joinResumed(c, cs, old, welcomeHex, treeHex) {
  const r = c.resumption;
  const keyPackage = decodeWhole(fromHex(r.key_package), "resumption.key_package").keyPackage;
  const privateKeys = {
    initPrivateKey: fromHex(r.init_priv),
    hpkePrivateKey: fromHex(r.encryption_priv),
    signaturePrivateKey: fromHex(c.signature_priv),
  };
  const welcome = decodeWhole(fromHex(welcomeHex), "welcome").welcome;
  if (welcome === undefined) throw new Error("not a Welcome");
  const tree = treeHex ? decodeRatchetTree(fromHex(treeHex), 0)?.[0] : undefined;
  if (r.usage === "reinit") return joinGroupFromReinit(old, welcome, keyPackage, privateKeys, tree);
  return joinGroupFromBranch(old, welcome, keyPackage, privateKeys, tree, cs);
}

async function join(c, cs, psks, welcomeHex, treeHex) {
  const { keyPackage, privateKeys } = keys(c);
  const welcome = decodeWhole(fromHex(welcomeHex), "welcome").welcome;
  if (welcome === undefined) throw new Error("not a Welcome");
  const tree = treeHex ? decodeRatchetTree(fromHex(treeHex), 0)?.[0] : undefined;
  return joinGroup(welcome, keyPackage, privateKeys, psks, cs, tree);
}

let processing; // the state a message is being processed with (for pskIndex)

// ts-mls's processMessage takes a PublicMessage or PrivateMessage: dispatching other
// MLSMessages is the application's job, so such an input is "n/a" for ts-mls.
class NoApi extends Error {}

async function deliver(state, hex, cs, psks, what) {
  const message = decodeWhole(fromHex(hex), what);
  if (message.wireformat !== "mls_public_message" && message.wireformat !== "mls_private_message") {
    throw new NoApi(`processMessage takes no ${message.wireformat} (the application dispatches by wire format)`);
  }
  processing = state;
  try {
    const result = await processMessage(message, state, psks, acceptAll, cs);
    return result.newState;
  } finally {
    processing = undefined;
  }
}

async function follow(state, epochs, cs, psks, where) {
  for (const [n, epoch] of epochs.entries()) {
    for (const p of epoch.proposals) state = await deliver(state, p, cs, psks, `${where}[${n}] proposal`);
    state = await deliver(state, epoch.commit, cs, psks, `${where}[${n}].commit`);
    const got = toHex(state.keySchedule.epochAuthenticator);
    if (got !== epoch.epoch_authenticator) throw new Error(`${where}[${n}]: epoch authenticator differs`);
  }
  return state;
}

async function runCase(c) {
  const out = { rule: c.rule, cipher_suite: c.cipher_suite, invalid: "not run", error: null,
    control: "not run", control_error: null, continuation: null, reason: null };
  let cs;
  try {
    cs = await suiteImpl(c.cipher_suite);
  } catch (e) {
    out.reason = `cipher suite ${c.cipher_suite}: ${errorText(e)}`;
    return out;
  }
  const psks = pskIndex(c.external_psks, () => processing);
  const inv = c.invalid;
  try {
    if (inv.kind === "group_info") {
      try {
        await joinExternally(c, cs, inv.group_info, inv.ratchet_tree);
        out.invalid = "accepted";
      } catch (e) {
        out.invalid = "rejected";
        out.error = errorText(e);
      }
      try {
        await joinExternally(c, cs, c.control.group_info, c.control.ratchet_tree);
        out.control = "accepted";
      } catch (e) {
        out.control = "refused";
        out.control_error = errorText(e);
      }
      return out;
    }
    if (inv.kind === "resumption_welcome") {
      let old;
      try {
        old = await join(c, cs, psks, c.welcome, c.ratchet_tree);
        old = await follow(old, c.epochs, cs, psks, "epochs");
      } catch (e) {
        throw new Setup(`join or valid epochs of the old group: ${errorText(e)}`);
      }
      try {
        await joinResumed(c, cs, old, inv.welcome, inv.ratchet_tree);
        out.invalid = "accepted";
      } catch (e) {
        out.invalid = "rejected";
        out.error = errorText(e);
      }
      try {
        const state = await joinResumed(c, cs, old, c.control.welcome, c.control.ratchet_tree);
        if (toHex(state.keySchedule.epochAuthenticator) !== c.control.epoch_authenticator) {
          throw new Error("control epoch authenticator differs");
        }
        out.control = "accepted";
      } catch (e) {
        out.control = "refused";
        out.control_error = errorText(e);
      }
      return out;
    }
    if (inv.kind === "welcome") {
      try {
        await join(c, cs, psks, inv.welcome, inv.ratchet_tree);
        out.invalid = "accepted";
      } catch (e) {
        out.invalid = "rejected";
        out.error = errorText(e);
      }
      try {
        const state = await join(c, cs, psks, c.welcome, c.ratchet_tree);
        if (toHex(state.keySchedule.epochAuthenticator) !== c.initial_epoch_authenticator) {
          throw new Error("initial epoch authenticator differs");
        }
        out.control = "accepted";
      } catch (e) {
        out.control = "refused";
        out.control_error = errorText(e);
      }
      return out;
    }
    let state;
    try {
      state = await join(c, cs, psks, c.welcome, c.ratchet_tree);
      if (toHex(state.keySchedule.epochAuthenticator) !== c.initial_epoch_authenticator) {
        throw new Error("initial epoch authenticator differs");
      }
      state = await follow(state, c.epochs, cs, psks, "epochs");
    } catch (e) {
      throw new Setup(`join or valid epochs: ${errorText(e)}`);
    }
    const start = state;
    let afterProposals;
    let refusedEarly = false;
    try {
      for (const p of inv.proposals) state = await deliver(state, p, cs, psks, "invalid.proposals");
      afterProposals = state;
    } catch (e) {
      if (!inv.break_in_proposals) {
        throw new Setup(`invalid.proposals (valid messages before the invalid one): ${errorText(e)}`);
      }
      // the proposal carries the break: refusing it on receipt refuses the input
      out.invalid = "rejected";
      out.error = `at the proposal: ${errorText(e)}`;
      refusedEarly = true;
      afterProposals = start;
    }
    if (!refusedEarly) {
      try {
        const after = await deliver(afterProposals, inv.message, cs, psks, "invalid.message");
        out.invalid = "accepted";
        out.epoch_after = Number(after.groupContext.epoch);
      } catch (e) {
        if (e instanceof NoApi) {
          out.invalid = "n/a";
          out.reason = e.message;
        } else {
          out.invalid = "rejected";
          out.error = errorText(e);
        }
      }
    }
    try {
      let twin = start;
      for (const p of c.control.proposals) twin = await deliver(twin, p, cs, psks, "control.proposals");
      await deliver(twin, c.control.message, cs, psks, "control.message");
      out.control = "accepted";
    } catch (e) {
      out.control = "refused";
      out.control_error = errorText(e);
    }
    if (c.continuation !== null) {
      try {
        await follow(afterProposals, [c.continuation], cs, psks, "continuation");
        out.continuation = "accepted";
      } catch (e) {
        out.continuation = `refused: ${errorText(e)}`;
      }
    }
  } catch (e) {
    if (!(e instanceof Setup)) throw e;
    out.reason = e.message;
  }
  return out;
}

const path = process.argv[2];
if (!path) {
  console.error("usage: node node/invalid-vectors.mjs FILE");
  process.exit(2);
}
const cases = JSON.parse(readFileSync(path, "utf8"));
const only = process.argv.slice(3);
for (const c of cases) {
  if (only.length && !only.includes(c.rule)) continue;
  let result;
  try {
    result = await runCase(c);
  } catch (e) {
    result = { rule: c.rule, cipher_suite: c.cipher_suite, invalid: "not run", reason: `runner: ${errorText(e)}` };
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}
