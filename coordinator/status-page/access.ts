/**
 * Who may read the status page, pure. With TLS the handshake already proved a
 * certificate from the cluster's CA; its keepvip identity decides: admins and
 * read-only admins (readers) read the page, an agent's certificate does not
 * (it is for one LB's session, not for people), and a certificate without a
 * keepvip identity is refused with the reason.
 */
import type { Identity } from "../../shared/identity.js";
import type { Result } from "../../shared/result.js";

export type Access = { ok: true; who: string } | { ok: false; status: 403; message: string };

export function pageAccess(id: Result<Identity>): Access {
  if (!id.ok) return { ok: false, status: 403, message: `status page refused: ${id.error.message}` };
  const { role, name } = id.value;
  if (role === "agent")
    return {
      ok: false,
      status: 403,
      message: `status page refused: agent certificates (${name}) cannot read the status page; use an admin or read-only certificate (keepvip certs issue-admin NAME --read-only)`,
    };
  return { ok: true, who: `${role} ${name}` };
}
