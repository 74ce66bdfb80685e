// Checks a record in the page itself, so that a reader need not trust the server: the id is
// the BLAKE3 of the body's canonical bytes, the signature Ed25519 over the signing message
// (docs/signing.md). The canonical form and envelope come from the TypeScript SDK; SHA-512
// is set synchronously so that this works where WebCrypto is not offered (plain HTTP off
// loopback).
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha512";
import { ENVELOPE_FIELDS, assertionId, fromHex } from "../../../../clients/typescript/src/signing.ts";

ed.etc.sha512Sync = (...messages) => sha512(ed.etc.concatBytes(...messages));
const DOMAIN = new TextEncoder().encode("stemedb/v1/assertion");

/** `{id, signature}`: each check's verdict for a stored record as the server sent it. */
export function verify(record) {
  try {
    const body = Object.fromEntries(Object.entries(record).filter(([k]) => !ENVELOPE_FIELDS.includes(k)));
    const id = assertionId(body) === record.id;
    const message = ed.etc.concatBytes(DOMAIN, new Uint8Array([0]), fromHex(String(record.id)));
    const signature = ed.verify(fromHex(String(record.signature)), message, fromHex(String(body.public_key)), { zip215: false });
    return { id, signature: id && signature };
  } catch {
    return { id: false, signature: false };
  }
}
