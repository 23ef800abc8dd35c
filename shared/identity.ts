/**
 * Who is calling, from the peer's certificate. keepvip certificates carry
 * their role and name in a SAN URI:
 *   urn:keepvip:agent:<node-id>      an agent; may open a session as that node only
 *   urn:keepvip:admin:<name>         an operator; every admin call
 *   urn:keepvip:reader:<name>        a read-only operator: status, why, events, validate
 * A certificate without exactly one such URI has no keepvip identity. Pure.
 */
import type { PeerCertificate } from "node:tls";
import { fail, ok, type Result } from "./result.js";

export type Role = "agent" | "admin" | "reader";

export interface Identity {
  role: Role;
  name: string;
  /** SHA-256 fingerprint of the certificate: one node id, one certificate at a time. */
  fingerprint: string;
}

const URI = /^urn:keepvip:(agent|admin|reader):([A-Za-z0-9][A-Za-z0-9_.-]{0,62})$/;

export function sanUri(role: Role, name: string): string {
  return `urn:keepvip:${role}:${name}`;
}

/** The keepvip identity in a certificate, or why there is none (unauthenticated). */
export function identityOf(cert: Pick<PeerCertificate, "subjectaltname" | "fingerprint256"> | undefined): Result<Identity> {
  if (!cert) return fail("unauthenticated", "no client certificate");
  const uris = (cert.subjectaltname ?? "")
    .split(/,\s*/)
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4))
    .filter((u) => u.startsWith("urn:keepvip:"));
  if (uris.length === 0) return fail("unauthenticated", "the certificate carries no keepvip identity (SAN URI urn:keepvip:ROLE:NAME)");
  if (uris.length > 1) return fail("unauthenticated", `the certificate carries ${uris.length} keepvip identities; exactly one is allowed`);
  const m = URI.exec(uris[0]);
  if (!m) return fail("unauthenticated", `the certificate's keepvip identity "${uris[0]}" is malformed`);
  return ok({ role: m[1] as Role, name: m[2], fingerprint: cert.fingerprint256 ?? "" });
}

/** "admin alice", "agent lb1", for logs and the event history. */
export function describeIdentity(id: Identity | undefined, peer: string): string {
  return id ? `${id.role} ${id.name} (${peer})` : `${peer} (insecure: no certificate)`;
}
