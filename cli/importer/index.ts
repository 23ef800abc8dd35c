/**
 * `keepvip import-keepalived`: reads one keepalived.conf per node (with its
 * includes, `@host` lines and `$NAME` parameters, as keepalived reads it) and
 * any nginx configs, and returns keepvip configs plus what was changed or not
 * carried over. Malformed input is refused with file, line and column.
 */
import { convert, renderImport, type ImportOptions } from "./convert.js";
import { readKeepalived } from "./keepalived.js";
import { readNginx } from "./nginx.js";
import { diskFiles, type Files, readConfigTree } from "./source.js";
import { parseBlocks } from "./syntax.js";

export { SyntaxProblem } from "./syntax.js";

export function importKeepalived(keepalivedFiles: string[], nginxFiles: string[], opts: ImportOptions = {}, files: Files = diskFiles) {
  const nodes = keepalivedFiles.map((f, i) => {
    const ctx = { configId: opts.names?.[i], params: new Map<string, string>(), notes: [], files };
    const node = readKeepalived(f, readConfigTree(f, ctx));
    node.notes.unshift(...ctx.notes);
    return node;
  });
  const nginx = nginxFiles.map((f) => readNginx(f, parseBlocks(files.read(f), f, "nginx")));
  for (const [i, n] of nodes.entries()) {
    if (n.instances.length === 0) throw new Error(`${keepalivedFiles[i]}: no vrrp_instance found — is this a keepalived.conf?`);
  }
  const result = convert(nodes, nginx, opts);
  return { result, files: renderImport(result, [...keepalivedFiles, ...nginxFiles], keepalivedFiles) };
}
