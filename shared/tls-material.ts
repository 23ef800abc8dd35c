/**
 * The key, certificate and CA a TLS endpoint runs with, read and checked to
 * fit together, and reloadable: on SIGHUP or when the files change, new
 * material that fits replaces the old and listeners are told; material that
 * does not fit is refused, named, and the old stays. Used by the coordinator's
 * listener and the agent's session alike, so a renewed certificate needs no
 * restart on either side.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync, unwatchFile, watchFile } from "node:fs";
import type { Logger } from "pino";
import { checkTlsFiles, type TlsFile } from "./cert-check.js";
import { fail, ok, type Result } from "./result.js";

export interface TlsPaths {
  ca: string;
  cert: string;
  key: string;
}

/** The three files, read and checked to fit together. */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** When the serving certificate expires (ms since the epoch). */
  notAfterMs: number;
  /** SHA-256 fingerprint of the serving certificate (what a reload changed). */
  fingerprint: string;
}

/** One file of a tls section as checkTlsFiles takes it: its text, or the errno code that kept it from being read. */
export function readTlsFile(path: string): TlsFile {
  try {
    return { path, ok: true, detail: "", text: readFileSync(path, "utf8") };
  } catch (err) {
    return { path, ok: false, detail: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}

/**
 * Reads ca, cert and key and checks them as `--preflight` and `--check` do (shared/cert-check.ts):
 * each parses, the key is the certificate's, the CA signed it, and it is within its dates.
 * Throws an Error naming the file and what is wrong.
 */
export function readTlsMaterial(files: TlsPaths, nowMs = Date.now()): TlsMaterial {
  const [ca, cert, key] = [files.ca, files.cert, files.key].map(readTlsFile);
  const failures = checkTlsFiles({ ca, cert, key }, { nowMs }).filter((f) => f.status === "fail");
  if (failures.length > 0 || ca.text === undefined || cert.text === undefined || key.text === undefined)
    throw new Error(failures.map((f) => f.title).join("; ") || "TLS files unreadable");
  const x509 = new X509Certificate(cert.text);
  const bytes = (f: TlsFile) => Buffer.from(f.text ?? "", "utf8");
  return { ca: bytes(ca), cert: bytes(cert), key: bytes(key), notAfterMs: Date.parse(x509.validTo), fingerprint: x509.fingerprint256 };
}

/** The files and what was last read from them. */
export class ReloadableTls {
  private current: TlsMaterial;
  private watching = false;
  private timer?: NodeJS.Timeout;
  private readonly listeners = new Set<(m: TlsMaterial) => void>();

  /** Reads and checks the files now: throws naming the file and the problem. */
  constructor(
    readonly paths: TlsPaths,
    private readonly log: Logger,
  ) {
    this.current = readTlsMaterial(paths);
  }

  get material(): TlsMaterial {
    return this.current;
  }

  /** Called with the new material after each reload that changed something. */
  onChange(fn: (m: TlsMaterial) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Reads the files again; new material that fits replaces the old, material that does
   * not is refused (logged as an error; `pending`: as a warning, a renewal may still be
   * writing the files one by one).
   */
  reload(why: string, pending = false): Result<"reloaded" | "unchanged"> {
    let next: TlsMaterial;
    try {
      next = readTlsMaterial(this.paths);
    } catch (err) {
      const message = (err as Error).message;
      if (pending) this.log.warn({ event: "tls.reload.pending", why, error: message }, `TLS files changed (${why}) but do not fit together yet: ${message}`);
      else this.log.error({ event: "tls.reload.rejected", why, error: message }, `TLS reload (${why}) rejected, the running certificate stays: ${message}`);
      return fail("failed-precondition", message);
    }
    const old = this.current;
    if (next.fingerprint === old.fingerprint && next.ca.equals(old.ca) && next.key.equals(old.key)) return ok("unchanged");
    this.current = next;
    for (const fn of this.listeners) fn(next);
    this.log.info(
      { event: "tls.reloaded", why, notAfter: new Date(next.notAfterMs).toISOString(), caChanged: !next.ca.equals(old.ca) },
      `TLS reloaded (${why}): new connections use the certificate valid until ${new Date(next.notAfterMs).toISOString()}; open connections keep theirs`,
    );
    return ok("reloaded");
  }

  /**
   * Reloads when the files change (stat polling: works for renames and bind mounts alike),
   * once they have been quiet for `settleMs`: a renewal writes key and certificate one after
   * the other. Files that still do not fit are tried again every `retryMs`, `retries` times,
   * before the refusal is an error; the running certificate stays throughout.
   */
  watch(opts: { intervalMs?: number; settleMs?: number; retryMs?: number; retries?: number } = {}): void {
    if (this.watching) return;
    this.watching = true;
    const { intervalMs = 500, settleMs = 500, retryMs = 2000, retries = 5 } = opts;
    let why = "";
    let left = retries;
    const attempt = () => {
      this.timer = undefined;
      if (!this.watching) return;
      const r = this.reload(why, left > 0);
      if (r.ok || left <= 0) return;
      left--;
      this.timer = setTimeout(attempt, retryMs);
      this.timer.unref();
    };
    for (const f of this.files()) {
      watchFile(f, { interval: intervalMs, persistent: false }, (cur, prev) => {
        if (cur.mtimeMs === prev.mtimeMs && cur.ino === prev.ino && cur.size === prev.size) return;
        why = `${f} changed`;
        left = retries;
        clearTimeout(this.timer);
        this.timer = setTimeout(attempt, settleMs);
        this.timer.unref();
      });
    }
  }

  close(): void {
    if (!this.watching) return;
    this.watching = false;
    clearTimeout(this.timer);
    for (const f of this.files()) unwatchFile(f);
  }

  private files(): string[] {
    return [...new Set([this.paths.ca, this.paths.cert, this.paths.key])];
  }
}
