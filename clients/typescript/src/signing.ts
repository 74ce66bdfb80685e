/**
 * Keys, canonical bytes, ids and signatures, as docs/signing.md defines them: a body's
 * canonical bytes are its RFC 8785 (JCS) serialisation, its id the BLAKE3-256 of those bytes,
 * its signature Ed25519 over `stemedb/v1/assertion` 0x00 and the id's 32 bytes. Works in
 * Node.js 20 and browsers (WebCrypto's SHA-512 under Ed25519).
 */
import * as ed from "@noble/ed25519";
import { blake3 } from "@noble/hashes/blake3.js";
import canonicalizeModule from "canonicalize";

type Serialize = (input: unknown) => string | undefined;
// canonicalize is CommonJS: Node's ESM loader hands its module.exports (the function) over as
// the default export, where a bundler may hand over `{ default: function }`.
const jcs: Serialize =
  typeof canonicalizeModule === "function"
    ? (canonicalizeModule as unknown as Serialize)
    : (canonicalizeModule as unknown as { default: Serialize }).default;

const DOMAIN = new TextEncoder().encode("stemedb/v1/assertion");
/** Fields a stored record carries beyond its signed body; a verifier removes exactly these. */
export const ENVELOPE_FIELDS = [
  "id", "signature", "sequence", "recorded_at", "lifecycle_stage", "retracted_by",
  "retraction_reason", "superseded_by", "quarantine_rule", "votes",
];

export type Body = Record<string, unknown>;

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(hex: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error(`not hex: ${hex.slice(0, 16)}…`);
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/** An Ed25519 signing key: its 32-byte seed and public key. */
export class Key {
  private constructor(readonly seed: Uint8Array, readonly publicKeyHex: string) {}

  static async fromSeed(seed: Uint8Array): Promise<Key> {
    if (seed.length !== 32) throw new Error("an Ed25519 seed is 32 bytes");
    return new Key(seed, toHex(await ed.getPublicKeyAsync(seed)));
  }

  static async generate(): Promise<Key> {
    return Key.fromSeed(ed.utils.randomPrivateKey());
  }

  /** A key file's text, as `stemedb keygen` writes it (JSON: public_key, secret_key). */
  static async fromKeyFile(text: string): Promise<Key> {
    const doc = JSON.parse(text);
    if ((doc.algorithm ?? "ed25519") !== "ed25519") throw new Error("not an ed25519 key file");
    const key = await Key.fromSeed(fromHex(doc.secret_key));
    if (doc.public_key !== undefined && doc.public_key !== key.publicKeyHex) {
      throw new Error("the key file's public_key does not match its secret_key");
    }
    return key;
  }

  /** The key file's text (keep it private: mode 0600). */
  toKeyFile(): string {
    const doc = { algorithm: "ed25519", public_key: this.publicKeyHex, secret_key: toHex(this.seed) };
    return JSON.stringify(doc, null, 2) + "\n";
  }
}

export function canonical(body: Body): Uint8Array {
  const text = jcs(body);
  if (text === undefined) throw new Error("the body cannot be serialised");
  return new TextEncoder().encode(text);
}

export function assertionId(body: Body): string {
  return toHex(blake3(canonical(body)));
}

function signingMessage(idHex: string): Uint8Array {
  const message = new Uint8Array(DOMAIN.length + 1 + 32);
  message.set(DOMAIN, 0);
  message.set(fromHex(idHex), DOMAIN.length + 1);
  return message;
}

/** The wire form: `public_key` filled in from `key` when absent, then the body plus `signature`. */
export async function sign(body: Body, key: Key): Promise<Body> {
  if ("signature" in body) throw new Error("the body is already signed");
  const full: Body = { ...body };
  full.public_key ??= key.publicKeyHex;
  if (full.public_key !== key.publicKeyHex) throw new Error("the body's public_key is not the signing key's");
  const signature = await ed.signAsync(signingMessage(assertionId(full)), key.seed);
  return { ...full, signature: toHex(signature) };
}

/** Whether a record read back is intact: its body (without the envelope) hashes to its `id`
 *  and its `signature` verifies with its `public_key`. */
export async function verifyRecord(record: Body): Promise<boolean> {
  try {
    const body = Object.fromEntries(Object.entries(record).filter(([k]) => !ENVELOPE_FIELDS.includes(k)));
    const id = assertionId(body);
    if (id !== record.id) return false;
    // zip215 off: the strict RFC 8032 rules, which the server applies (small-order keys fail).
    return await ed.verifyAsync(fromHex(String(record.signature)), signingMessage(id), fromHex(String(body.public_key)), { zip215: false });
  } catch {
    return false;
  }
}

export function nowRfc3339(): string {
  return new Date().toISOString();
}

export interface Fields {
  confidence?: number;
  timestamp?: string;
  sources?: string[];
  provenance?: string;
  derived_from?: string[];
  [field: string]: unknown;
}

/** A body from its parts; absent optional fields stay absent (they change the id). */
export function draft(agent: string, subject: string, predicate: string, value: unknown, fields: Fields = {}): Body {
  const body: Body = { agent_id: agent, subject, predicate, value, timestamp: fields.timestamp ?? nowRfc3339() };
  for (const [name, field] of Object.entries(fields)) {
    if (field !== undefined && name !== "timestamp") body[name] = field;
  }
  return body;
}
