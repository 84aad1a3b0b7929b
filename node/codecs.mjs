// ts-mls's codecs for the RFC 9420 wire types, and the decode/re-encode check, shared by
// bench-codec.mjs (timing) and interop-peer.mjs (the "codec_roundtrip" request of the
// interop tests), so both use the same table and the same notion of "round-trips".

// ts-mls exposes its per-struct codecs through the "./*.js" subpath export,
// which maps to dist/src/*.js (so "ts-mls/message.js", not "ts-mls/dist/src/...").
import { decodeMlsMessage, encodeMlsMessage } from "ts-mls/message.js";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { decodeGroupSecrets, encodeGroupSecrets } from "ts-mls/groupSecrets.js";
import { decodeCommit, encodeCommit } from "ts-mls/commit.js";
import {
  decodeAdd,
  encodeAdd,
  decodeUpdate,
  encodeUpdate,
  decodeRemove,
  encodeRemove,
  decodePSK,
  encodePSK,
  decodeReinit,
  encodeReinit,
  decodeExternalInit,
  encodeExternalInit,
  decodeGroupContextExtensions,
  encodeGroupContextExtensions,
} from "ts-mls/proposal.js";

// RFC 9420 type name -> [decoder, encoder]. A ts-mls decoder has the signature
// (bytes, offset) => [value, bytesConsumed] | undefined; an encoder value => Uint8Array.
export const CODECS = {
  MLSMessage: [decodeMlsMessage, encodeMlsMessage],
  // The ratchet_tree extension payload: optional<Node> ratchet_tree<V>.
  RatchetTree: [decodeRatchetTree, encodeRatchetTree],
  GroupSecrets: [decodeGroupSecrets, encodeGroupSecrets],
  Add: [decodeAdd, encodeAdd],
  Update: [decodeUpdate, encodeUpdate],
  Remove: [decodeRemove, encodeRemove],
  PreSharedKey: [decodePSK, encodePSK],
  ReInit: [decodeReinit, encodeReinit],
  ExternalInit: [decodeExternalInit, encodeExternalInit],
  GroupContextExtensions: [decodeGroupContextExtensions, encodeGroupContextExtensions],
  Commit: [decodeCommit, encodeCommit],
};

function sameBytes(a, b) {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

// Checks one value; returns null when it round-trips, otherwise a short reason. The
// decoder must consume the whole input (ts-mls leaves trailing bytes to the caller) and
// the re-encoding must be byte-identical.
export function checkOne(decode, encode, bytes) {
  let decoded;
  try {
    decoded = decode(bytes, 0);
  } catch (err) {
    return `decode threw ${err?.name ?? "error"}: ${String(err?.message ?? err).slice(0, 80)}`;
  }
  if (decoded === undefined) return "decode returned undefined";
  const [value, consumed] = decoded;
  if (consumed !== bytes.length) return `decode consumed ${consumed} of ${bytes.length} bytes`;
  let encoded;
  try {
    encoded = encode(value);
  } catch (err) {
    return `encode threw ${err?.name ?? "error"}: ${String(err?.message ?? err).slice(0, 80)}`;
  }
  return sameBytes(encoded, bytes) ? null : "re-encoding differs";
}
