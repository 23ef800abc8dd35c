/**
 * The one way keepvip replaces a file: write a temporary file beside it, then
 * rename it over the target, so a reader (or a restart after a crash) sees
 * the old content or the new, never half of one. `durable` also syncs the
 * file before the rename and the directory after it, so the new content
 * survives a power loss once the promise resolves.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from "node:fs";
import { open, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

export interface AtomicWriteOptions {
  /** Permission bits of the new file (default 0o600). */
  mode?: number;
  /** fsync the file before the rename and its directory after it. */
  durable?: boolean;
}

export async function writeFileAtomic(file: string, text: string, options: AtomicWriteOptions = {}): Promise<void> {
  const mode = options.mode ?? 0o600;
  const tmp = `${file}.${process.pid}.tmp`;
  if (options.durable) {
    const fh = await open(tmp, "w", mode);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } else {
    await writeFile(tmp, text, { mode });
  }
  await rename(tmp, file);
  if (options.durable) {
    const dir = await open(dirname(file), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

/**
 * The same, synchronously: for state that must be on disk before the caller's
 * next step (the agent persists a newer epoch or term before it acts on it).
 */
export function writeFileAtomicSync(file: string, text: string, options: AtomicWriteOptions = {}): void {
  const mode = options.mode ?? 0o600;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  if (options.durable) syncPath(tmp);
  renameSync(tmp, file);
  if (options.durable) syncPath(dirname(file));
}

function syncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
