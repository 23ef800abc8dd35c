/**
 * `keepvip import-keepalived`: reads one keepalived.conf per node and any
 * nginx configs, and returns keepvip configs plus what was not carried over.
 * Malformed input is refused with file, line and column.
 */
import { readFileSync } from "node:fs";
import { convert, renderImport, type ImportOptions } from "./convert.js";
import { readKeepalived } from "./keepalived.js";
import { readNginx } from "./nginx.js";
import { parseBlocks } from "./syntax.js";

export { SyntaxProblem } from "./syntax.js";

function read(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

export function importKeepalived(keepalivedFiles: string[], nginxFiles: string[], opts: ImportOptions = {}) {
  const nodes = keepalivedFiles.map((f) => readKeepalived(f, parseBlocks(read(f), f, "keepalived")));
  const nginx = nginxFiles.map((f) => readNginx(f, parseBlocks(read(f), f, "nginx")));
  for (const [i, n] of nodes.entries()) {
    if (n.instances.length === 0) throw new Error(`${keepalivedFiles[i]}: no vrrp_instance found — is this a keepalived.conf?`);
  }
  const result = convert(nodes, nginx, opts);
  return { result, files: renderImport(result, [...keepalivedFiles, ...nginxFiles], keepalivedFiles) };
}
