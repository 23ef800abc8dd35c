/**
 * The checks of a `tls: {ca, cert, key}` section before anything dials or
 * listens: the three files are there, the certificate is within its dates
 * (a warning 30 days ahead), it was signed by the configured CA, the key is
 * its key and, for an agent, it names this node (urn:keepvip:agent:NODE).
 * Pure: the files' text (or why it could not be read) and the time come in,
 * findings go out, each naming the file and what is wrong with it. Used by
 * `keepvip-agent --preflight` and `keepvip-coordinator --check`.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { identityOf, sanUri } from "./identity.js";

/** One file of the tls section as read: its text, or the errno code that stopped the read. */
export interface TlsFile {
  path: string;
  ok: boolean;
  /** errno code when not ok ("ENOENT", "EACCES"). */
  detail: string;
  /** The content (when ok). */
  text?: string;
}

/** What is checked: files, dates, the issuing CA, the key, the node named in the certificate. */
export type CertCheck = "files" | "expiry" | "ca" | "key" | "identity";

export interface CertFinding {
  check: CertCheck;
  status: "ok" | "warn" | "fail";
  /** What was found, naming the file. */
  title: string;
  why?: string;
  fix?: string;
}

export interface CertCheckOptions {
  nowMs: number;
  /** An agent's node id: its certificate must carry urn:keepvip:agent:NODE. Absent: no identity check (the coordinator). */
  agentNode?: string;
  /** The directory `keepvip certs` commands in a fix name (default: the certificate's directory). */
  pkiDir?: string;
  /** Warn when the certificate ends within this many days (default 30). */
  warnDays?: number;
}

const DAY = 86_400_000;

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i > 0 ? path.slice(0, i) : "/";
}

function missing(f: TlsFile): string {
  return f.detail === "ENOENT" ? "missing" : `unreadable (${f.detail})`;
}

function parseCert(f: TlsFile): X509Certificate | string {
  try {
    return new X509Certificate(f.text ?? "");
  } catch (err) {
    return (err as Error).message;
  }
}

function parseKey(f: TlsFile): KeyObject | string {
  try {
    return createPrivateKey(f.text ?? "");
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The findings for one tls section: an "ok", "warn" or "fail" per check that
 * could be made. A check that needs a file which could not be read or parsed
 * is left out; that file's own finding already fails.
 */
export function checkTlsFiles(files: { ca: TlsFile; cert: TlsFile; key: TlsFile }, opts: CertCheckOptions): CertFinding[] {
  const { ca, cert, key } = files;
  const dir = opts.pkiDir ?? dirOf(cert.path);
  const issueCommand = opts.agentNode
    ? `keepvip certs issue-agent ${opts.agentNode} --dir ${dir}`
    : `keepvip certs issue-coordinator --san ADDRESSES --dir ${dir}`;
  const out: CertFinding[] = [];
  const fail = (check: CertCheck, title: string, why: string, fix: string) => out.push({ check, status: "fail", title, why, fix });

  // Files: present, readable, and what they claim to be.
  const unreadable = [ca, cert, key].filter((f) => !f.ok);
  const caCert = ca.ok ? parseCert(ca) : undefined;
  const own = cert.ok ? parseCert(cert) : undefined;
  const ownKey = key.ok ? parseKey(key) : undefined;
  const garbled = [
    typeof caCert === "string" ? `${ca.path} is not a PEM certificate (${caCert})` : undefined,
    typeof own === "string" ? `${cert.path} is not a PEM certificate (${own})` : undefined,
    typeof ownKey === "string" ? `${key.path} is not an unencrypted PEM private key (${ownKey})` : undefined,
  ].filter((s): s is string => s !== undefined);
  if (unreadable.length > 0 || garbled.length > 0)
    fail(
      "files",
      [...unreadable.map((f) => `${f.path}: ${missing(f)}`), ...garbled].join("; "),
      "TLS needs the CA certificate, this host's certificate and its key",
      unreadable.some((f) => f.detail === "ENOENT")
        ? `make them on the host that keeps the CA (${issueCommand}), copy ca.crt, the certificate and the key here, key mode 0600`
        : "check the tls paths in the config and their permissions (key 0600, owned by the user the service runs as)",
    );
  else out.push({ check: "files", status: "ok", title: `TLS files readable (${[ca, cert, key].map((f) => f.path).join(", ")})` });

  const x = own instanceof X509Certificate ? own : undefined;
  const c = caCert instanceof X509Certificate ? caCert : undefined;
  const k = ownKey && typeof ownKey !== "string" ? ownKey : undefined;

  // Dates, the certificate's and the CA's.
  if (x) {
    const from = Date.parse(x.validFrom);
    const to = Date.parse(x.validTo);
    const days = Math.floor((to - opts.nowMs) / DAY);
    const renew = `issue a new one (${issueCommand} --force) and copy it here; then restart the service`;
    if (Number.isNaN(from) || Number.isNaN(to))
      fail("expiry", `${cert.path}: unreadable validity dates (${x.validFrom} – ${x.validTo})`, "the dates decide whether peers accept it", renew);
    else if (to <= opts.nowMs)
      fail("expiry", `${cert.path} expired on ${isoDay(to)}`, "peers refuse an expired certificate: no session or call gets through", renew);
    else if (from > opts.nowMs)
      fail(
        "expiry",
        `${cert.path} is not valid before ${isoDay(from)}`,
        "peers refuse a certificate that is not valid yet",
        "check this host's clock (timedatectl), or the issuing host's clock",
      );
    else if (to - opts.nowMs < (opts.warnDays ?? 30) * DAY)
      out.push({
        check: "expiry",
        status: "warn",
        title: `${cert.path} expires on ${isoDay(to)} (in ${days} day${days === 1 ? "" : "s"})`,
        why: "once it expires peers refuse it",
        fix: renew,
      });
    else out.push({ check: "expiry", status: "ok", title: `${cert.path} valid until ${isoDay(to)} (${days} days)` });
  }
  if (c && Date.parse(c.validTo) <= opts.nowMs)
    fail(
      "expiry",
      `${ca.path}: the CA expired on ${isoDay(Date.parse(c.validTo))}`,
      "nothing it signed is trusted any more",
      "make a new CA (keepvip certs init --force) and issue every certificate again",
    );

  // Signed by the configured CA.
  if (x && c) {
    if (x.checkIssued(c) && x.verify(c.publicKey)) out.push({ check: "ca", status: "ok", title: `${cert.path} is signed by the CA in ${ca.path}` });
    else
      fail(
        "ca",
        `${cert.path} is not signed by the CA in ${ca.path} (its issuer: ${x.issuer.replace(/\n/g, ", ")})`,
        "peers that trust this CA refuse the certificate: it comes from another CA",
        `copy the CA that signed it to ${ca.path}, or issue a certificate from this CA (${issueCommand})`,
      );
  }

  // The key is the certificate's.
  if (x && k) {
    if (x.checkPrivateKey(k)) out.push({ check: "key", status: "ok", title: `${key.path} is the key of ${cert.path}` });
    else
      fail(
        "key",
        `${key.path} does not match the certificate ${cert.path}`,
        "the TLS handshake fails: the key cannot prove the certificate is ours",
        `copy the key issued with ${cert.path} (same stem, .key) to ${key.path}`,
      );
  }

  // The node this agent is.
  if (x && opts.agentNode !== undefined) {
    const want = sanUri("agent", opts.agentNode);
    const id = identityOf({ subjectaltname: x.subjectAltName, fingerprint256: x.fingerprint256 });
    if (id.ok && id.value.role === "agent" && id.value.name === opts.agentNode)
      out.push({ check: "identity", status: "ok", title: `${cert.path} names this node (${want})` });
    else
      fail(
        "identity",
        `${cert.path} ${id.ok ? `is for ${id.value.role} ${id.value.name} (${sanUri(id.value.role, id.value.name)}), not node ${opts.agentNode}` : `does not name node ${opts.agentNode}: ${id.error.message}`}`,
        `the coordinator lets a certificate speak only as the node in its SAN URI, so a session as ${opts.agentNode} is refused`,
        `issue this node's certificate (${issueCommand}) and point tls.cert and tls.key at it, or fix node_id`,
      );
  }
  return out;
}
