// Records changed on the way, for the tests that check that the page notices: a value
// changed under its signature, a signature byte flipped, and a record re-signed whole by
// another key (valid in itself, but not the agent's key).
import * as ed from "@noble/ed25519";
import { blake3 } from "@noble/hashes/blake3";
import canonicalize from "canonicalize";

const ENVELOPE = ["id", "signature", "sequence", "recorded_at", "lifecycle_stage", "retracted_by",
  "retraction_reason", "superseded_by", "quarantine_rule", "votes"];
const hex = (bytes) => Buffer.from(bytes).toString("hex");

export function flipSignatureByte(record) {
  const first = parseInt(record.signature.slice(0, 2), 16) ^ 1;
  return { ...record, signature: first.toString(16).padStart(2, "0") + record.signature.slice(2) };
}

export async function resignWithAnotherKey(record) {
  const seed = new Uint8Array(32).fill(77);
  const body = Object.fromEntries(Object.entries(record).filter(([k]) => !ENVELOPE.includes(k)));
  body.public_key = hex(await ed.getPublicKeyAsync(seed));
  const id = hex(blake3(new TextEncoder().encode(canonicalize(body))));
  const message = Buffer.concat([Buffer.from("stemedb/v1/assertion"), Buffer.from([0]), Buffer.from(id, "hex")]);
  const signature = hex(await ed.signAsync(message, seed));
  return { ...record, ...body, id, signature };
}
