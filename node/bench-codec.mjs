// Times ts-mls decode + re-encode of MLS wire values, for bench/codec.py.
//
// Input (JSON on stdin):
//   {"min_time": 0.2, "repeat": 5,
//    "cases": [{"key": "mls_welcome", "type": "MLSMessage", "values": ["hex", ...]}, ...]}
// Output (JSON on stdout): {"runtime": ..., "results": [one object per case, same order]}.
//
// The timing loop runs inside node so that process start-up and the hex/JSON
// hand-over are not part of what is measured; Python only reads the numbers.
// Every value is first checked once: the decoder must consume the whole input and
// the re-encoding must be byte-identical. Only values that pass are timed, and
// the counts are reported so the caller can say how much ts-mls could handle.

import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

import { CODECS, checkOne } from "./codecs.mjs";

// The package does not export its package.json, so read it from node_modules
// next to this script (the folder npm ci installs into).
const TS_MLS_VERSION = JSON.parse(
  readFileSync(new URL("./node_modules/ts-mls/package.json", import.meta.url), "utf8"),
).version;

function hexToBytes(hex) {
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

// The sink keeps V8 from proving the work useless and dropping it.
let sink = 0;

function onePass(decode, encode, values) {
  for (let i = 0; i < values.length; i++) {
    sink += encode(decode(values[i], 0)[0]).length;
  }
}

function timeLoops(decode, encode, values, loops) {
  const start = performance.now();
  for (let i = 0; i < loops; i++) onePass(decode, encode, values);
  return (performance.now() - start) / 1000;
}

// Same scheme as bench/codec.py: minTime of warm-up passes (so V8 has optimized the
// codec before anything counts), then grow the loop count 1, 2, 5, 10, 20, 50, ...
// until one measurement lasts at least minTime, and keep the best of `repeat`
// measurements at that loop count.
function bestTime(decode, encode, values, minTime, repeat) {
  const warmUntil = performance.now() + minTime * 1000;
  while (performance.now() < warmUntil) onePass(decode, encode, values);
  let loops = 1;
  for (let scale = 1; ; scale *= 10) {
    let found = false;
    for (const step of [1, 2, 5]) {
      loops = step * scale;
      if (timeLoops(decode, encode, values, loops) >= minTime) {
        found = true;
        break;
      }
    }
    if (found) break;
  }
  let best = Infinity;
  for (let r = 0; r < repeat; r++) {
    best = Math.min(best, timeLoops(decode, encode, values, loops));
  }
  return { best, loops };
}

function runCase(spec, minTime, repeat) {
  const result = { key: spec.key, type: spec.type, n: spec.values.length };
  const codec = CODECS[spec.type];
  if (codec === undefined) {
    return { ...result, status: "n/a", ok: 0, failures: {} };
  }
  const [decode, encode] = codec;
  const good = [];
  const failures = {};
  for (const hex of spec.values) {
    const bytes = hexToBytes(hex);
    const reason = checkOne(decode, encode, bytes);
    if (reason === null) good.push(bytes);
    else failures[reason] = (failures[reason] ?? 0) + 1;
  }
  const out = { ...result, ok: good.length, failures };
  if (good.length === 0) return { ...out, status: "fails" };
  const { best, loops } = bestTime(decode, encode, good, minTime, repeat);
  const bytesPerPass = good.reduce((acc, b) => acc + b.length, 0);
  return { ...out, status: "ok", seconds: best, loops, values_per_pass: good.length, bytes_per_pass: bytesPerPass };
}

function main() {
  const input = JSON.parse(readFileSync(0, "utf8"));
  const minTime = input.min_time ?? 0.2;
  const repeat = input.repeat ?? 5;
  const results = input.cases.map((spec) => runCase(spec, minTime, repeat));
  const runtime = { node: process.version, "ts-mls": TS_MLS_VERSION };
  process.stdout.write(JSON.stringify({ runtime, results, sink }) + "\n");
}

main();
