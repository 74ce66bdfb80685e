/**
 * StemeDB for TypeScript (Node.js 20 and browsers): sign assertions locally, write and query
 * them on a StemeDB server, verify what comes back offline.
 *
 *   const key = await Key.generate();
 *   const db = new Client({ urls: "http://127.0.0.1:18180", apiKey });
 *   const written = await db.assert(key, "agent/alice", "drug/aspirin/dosage", "recommended_mg", 81);
 */
export { Key, assertionId, canonical, draft, sign, verifyRecord, toHex, fromHex, ENVELOPE_FIELDS } from "./signing.js";
export type { Body, Fields } from "./signing.js";
export { Client } from "./client.js";
export type { BatchResult, ClientOptions, Group, QueryOptions, QueryResult, Record, WriteResult } from "./client.js";
export { StemeDBError, Unavailable } from "./errors.js";
export { verifyExport } from "./audit.js";
export type { AuditReport } from "./audit.js";
