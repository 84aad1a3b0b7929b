// Times ts-mls group operations for bench/group.py, entirely inside node.
//
// Input (JSON on stdin), one scenario per run:
//   {"scenario": "add" | "path" | "app", "sizes": [16, 128, ...], "repeat": 3,
//    "min_time": 0.5, "payload": 100}
// Output (JSON on stdout):
//   {"runtime": {"node": ..., "ts-mls": ...},
//    "results": [{"n": 16, "status": "ok", "times": {"commit": [s, ...], ...},
//                 "setup": s, "rss_before": bytes, "max_rss": bytes}, ...]}
//
// Scenarios (the same as bench/group.py's, see its docstring):
//   add  -- one commit adding N-1 members to a fresh group (+ its Welcome), and one
//           joiner processing that Welcome; fresh group and joiner per repetition.
//   path -- in an N-member group whose committer's copath is filled, the committer's
//           commit with an UpdatePath, and another member processing it.
//   app  -- application messages: encrypt by one member plus decrypt by another.
//
// Why inside node: the Python side would otherwise time JSON/hex over a pipe. What is
// timed here starts and ends with wire bytes, as for mlswire: a commit is created and
// encoded, a received message or Welcome is decoded and then processed. Handshake
// messages are PublicMessages (wireAsPublicMessage), as for every implementation in
// the benchmark; the ratchet tree travels in the Welcome (ratchetTreeExtension).
//
// bench/group.py runs one size per process (so maxRSS is that size's peak) and
// applies its time budget itself.

import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

import {
  acceptAll,
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteImpl,
  joinGroup,
  processMessage,
  zeroOutUint8Array,
} from "ts-mls";
import { getCiphersuiteFromId } from "ts-mls/crypto/ciphersuite.js";

const TS_MLS_VERSION = JSON.parse(
  readFileSync(new URL("./node_modules/ts-mls/package.json", import.meta.url), "utf8"),
).version;

const COMMIT_OPTIONS = { wireAsPublicMessage: true, ratchetTreeExtension: true };

const input = JSON.parse(readFileSync(0, "utf8"));
// 1: the only suite all four implementations share (mls-rs bindings: 1 only);
// bench/pq.py passes ts-mls's post-quantum suites (77..88).
const SUITE = input.suite ?? 1;
const cs = await getCiphersuiteImpl(getCiphersuiteFromId(SUITE));

const seconds = () => performance.now() / 1000;

// ts-mls hands back the secrets an operation consumed and expects the application to
// wipe them (its README); a real deployment pays for that, so the benchmark does too.
function wipe(consumed) {
  for (const secret of consumed ?? []) zeroOutUint8Array(secret);
}

// A member: its own signature key pair (RFC 9420 §7.3 wants signature keys unique
// among members) and one KeyPackage.
async function newMember(i) {
  const sigKeys = await cs.signature.keygen();
  const credential = {
    credentialType: "basic",
    identity: new TextEncoder().encode(`member ${i}`),
  };
  const kp = await generateKeyPackageWithKey(
    credential,
    defaultCapabilities(),
    defaultLifetime,
    [],
    sigKeys,
    cs,
  );
  return { kp, sigKeys, credential };
}

function decodeWhole(bytes) {
  const [message, consumed] = decodeMlsMessage(bytes, 0);
  if (consumed !== bytes.length) throw new Error("trailing bytes after an MLSMessage");
  return message;
}

const addProposal = (member) => ({ proposalType: "add", add: { keyPackage: member.kp.publicPackage } });

async function newGroup(creator) {
  const groupId = cs.rng.randomBytes(16);
  return createGroup(groupId, creator.kp.publicPackage, creator.kp.privatePackage, [], cs);
}

// Commit (with the given extra proposals), applied by the committer, encoded to bytes.
async function commitBytes(state, extraProposals) {
  const result = await createCommit(
    { state, cipherSuite: cs },
    extraProposals ? { ...COMMIT_OPTIONS, extraProposals } : COMMIT_OPTIONS,
  );
  wipe(result.consumed);
  const commit = encodeMlsMessage(result.commit);
  const welcome =
    result.welcome === undefined
      ? undefined
      : encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: result.welcome });
  return { state: result.newState, commit, welcome };
}

async function processBytes(state, bytes) {
  const result = await processMessage(decodeWhole(bytes), state, emptyPskIndex, acceptAll, cs);
  wipe(result.consumed);
  return result;
}

async function join(member, welcomeBytes) {
  const message = decodeWhole(welcomeBytes);
  return joinGroup(message.welcome, member.kp.publicPackage, member.kp.privatePackage, emptyPskIndex, cs);
}

// ---------------------------------------------------------------- scenarios

// Members are made once and reused across sizes and repetitions (a KeyPackage can be
// added to any number of fresh groups); the joiner of each repetition is fresh, since
// joining uses up its KeyPackage.
const pool = [];
async function members(count) {
  while (pool.length < count) pool.push(await newMember(pool.length));
  return pool.slice(0, count);
}

async function scenarioAdd(n, repeat) {
  const t0 = seconds();
  const [creator, ...others] = await members(n - 1);
  const setup = seconds() - t0;
  const times = { commit: [], welcome: [] };
  let rss_before = 0;
  for (let r = 0; r < repeat; r++) {
    const joiner = await newMember(`joiner ${r}`);
    // The joiner sits in the middle of the tree, so no implementation gains from
    // finding its entry first or last in the Welcome.
    const adds = [...others.slice(0, n / 2 - 1), joiner, ...others.slice(n / 2 - 1)].map(addProposal);
    const state = await newGroup(creator);
    // Resident memory before the first timed commit (members already made).
    if (r === 0) rss_before = process.memoryUsage().rss;
    let t = seconds();
    const out = await commitBytes(state, adds);
    times.commit.push(seconds() - t);
    t = seconds();
    await join(joiner, out.welcome);
    times.welcome.push(seconds() - t);
  }
  return { setup, times, rss_before };
}

// The copath of leaf 0 in a tree of n = 2^k leaves is leaf 1 and the subtrees of
// leaves [2^j, 2^(j+1)) for j = 1 .. k-1. A commit with a path by leaf 2^j sets every
// node on its direct path, that subtree's root included, with no unmerged leaves.
// Committing top-down (n/2, n/4, ..., 2) keeps the setup at about 2n encryptions: the
// copath nodes above a committer are then already filled (bottom-up, every commit
// would encrypt to the whole blank upper half). Afterwards leaf 0 encrypts to one node
// per level: log2 n HPKE encryptions. The receiver is leaf n/2.
async function scenarioPath(n, repeat) {
  const t0 = seconds();
  const all = await members(n);
  const creator = all[0];
  let out = await commitBytes(await newGroup(creator), all.slice(1).map(addProposal));
  const active = new Map([[0, out.state]]);
  const copath = [];
  for (let leaf = n / 2; leaf >= 2; leaf /= 2) copath.push(leaf); // top-down, see above
  for (const leaf of copath) active.set(leaf, await join(all[leaf], out.welcome));
  for (const leaf of copath) {
    const made = await commitBytes(active.get(leaf));
    active.set(leaf, made.state);
    for (const [other, state] of active) {
      if (other !== leaf) active.set(other, (await processBytes(state, made.commit)).newState);
    }
  }
  const receiverLeaf = n / 2;
  let committer = active.get(0);
  let receiver = active.get(receiverLeaf);
  active.clear();
  const setup = seconds() - t0;
  // The committer's own commits leave its copath as it was, so it can commit again and
  // again in the same shape: every repetition measures the same operation.
  const times = { commit: [], process: [] };
  for (let r = 0; r < repeat; r++) {
    let t = seconds();
    out = await commitBytes(committer);
    times.commit.push(seconds() - t);
    committer = out.state;
    t = seconds();
    receiver = (await processBytes(receiver, out.commit)).newState;
    times.process.push(seconds() - t);
  }
  return { setup, times };
}

async function scenarioApp(minTime, repeat, payloadSize) {
  const [a, b] = await members(2);
  const out = await commitBytes(await newGroup(a), [addProposal(b)]);
  let sender = out.state;
  let receiver = await join(b, out.welcome);
  const payload = new Uint8Array(payloadSize).fill(0x61);
  async function one() {
    const made = await createApplicationMessage(sender, payload, cs);
    sender = made.newState;
    wipe(made.consumed);
    const bytes = encodeMlsMessage({
      version: "mls10",
      wireformat: "mls_private_message",
      privateMessage: made.privateMessage,
    });
    const got = await processBytes(receiver, bytes);
    receiver = got.newState;
    if (got.message.length !== payloadSize) throw new Error("decrypted payload has the wrong size");
  }
  // Warm up for min_time, then count messages in each of `repeat` windows of min_time.
  const times = { message: [] };
  let end = seconds() + minTime;
  while (seconds() < end) await one();
  for (let r = 0; r < repeat; r++) {
    let count = 0;
    const start = seconds();
    end = start + minTime;
    while (seconds() < end) {
      await one();
      count++;
    }
    times.message.push((seconds() - start) / count);
  }
  return { setup: 0, times };
}

// ---------------------------------------------------------------- driver

const results = [];
if (input.scenario === "app") {
  results.push({ n: 2, status: "ok", ...(await scenarioApp(input.min_time, input.repeat, input.payload)) });
} else {
  const run = input.scenario === "add" ? scenarioAdd : scenarioPath;
  for (const n of input.sizes) {
    try {
      const r = await run(n, input.repeat);
      results.push({ n, status: "ok", ...r, max_rss: process.resourceUsage().maxRSS * 1024 });
    } catch (err) {
      // ts-mls refusing an operation is a result to report, not a crash of the script.
      results.push({ n, status: "fails", error: `${err?.name ?? "Error"}: ${String(err?.message ?? err).slice(0, 160)}` });
      break;
    }
  }
}

process.stdout.write(
  JSON.stringify({ runtime: { node: process.version, "ts-mls": TS_MLS_VERSION }, results }) + "\n",
);
