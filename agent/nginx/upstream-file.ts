/**
 * The upstream include file on disk, changed so that a candidate nginx has not
 * passed `nginx -t` with is never left in place (docs/design.md, Invariants, 6), even if
 * the agent dies half-way:
 *
 *   swapIn:  current file → TARGET.keepvip-good (the last good copy)
 *            candidate    → TARGET.keepvip-candidate → rename over TARGET
 *   then nginx -t, and either
 *   restore: rename TARGET.keepvip-good over TARGET   (test failed)
 *   commit:  unlink TARGET.keepvip-good               (test passed)
 *
 * A .keepvip-good file found at start means an apply was cut short: recover()
 * puts it back (the coordinator re-sends the newest version on reconnect).
 * Renames stay in one directory, so they are atomic. nginx's include glob must
 * not match the helper names (`conf.d/*.conf` does not: they end in .keepvip-*).
 */
import { readFile, rename, unlink, writeFile } from "node:fs/promises";

/** What stands in for "no file yet" as the last good copy: an include with nothing in it. */
export const EMPTY_UPSTREAM_FILE = "# Written by keepvip-agent. No upstreams have been applied yet.\n";

export class UpstreamFile {
  /** The include file nginx reads. */
  readonly path: string;
  /** The last good copy, present only while an apply is in flight. */
  readonly goodPath: string;
  private readonly candidatePath: string;

  constructor(path: string) {
    this.path = path;
    this.goodPath = `${path}.keepvip-good`;
    this.candidatePath = `${path}.keepvip-candidate`;
  }

  /** The file's text, or undefined when it does not exist. */
  async read(): Promise<string | undefined> {
    try {
      return await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  /** Puts back the last good copy left by an interrupted apply; true if it did. */
  async recover(): Promise<boolean> {
    try {
      await rename(this.goodPath, this.path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
  }

  /** Saves the current text as the last good copy, then moves `text` into place. */
  async swapIn(text: string): Promise<void> {
    const current = await this.read();
    await writeFile(this.goodPath, current ?? EMPTY_UPSTREAM_FILE, { mode: 0o644, flush: true });
    await writeFile(this.candidatePath, text, { mode: 0o644, flush: true });
    await rename(this.candidatePath, this.path);
  }

  /** The candidate failed: the last good copy goes back over it. */
  async restore(): Promise<void> {
    await rename(this.goodPath, this.path);
  }

  /** The candidate passed: it is now the good file. */
  async commit(): Promise<void> {
    await unlink(this.goodPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err;
    });
  }
}
