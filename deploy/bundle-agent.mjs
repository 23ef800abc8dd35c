#!/usr/bin/env node
/**
 * The agent's shipped bin, dist/agent/keepvip-agent.js: tsc's output of agent/main.ts and
 * everything it imports (shared/, zod, grpc-js, pino, execa, ...), bundled by esbuild into one
 * minified ES module. Run by `npm run build` after tsc.
 *
 * Why: V8 keeps the source text of every module it loaded on its heap, and every loaded module
 * has its own records. One minified file is a third of the text (1.0 MB; 3.2 MB unminified) and one
 * module: an idle agent's RSS drops by about 5 MB (docs/benchmarks.md, footprint). The
 * coordinator and the CLI stay as tsc wrote them.
 *
 * zod is imported as a namespace (`import * as z`): esbuild then keeps only what the schemas
 * use (94 KB), where `import { z }` kept all of zod with every locale's messages (447 KB).
 *
 * What is kept: the first line of agent/main.ts (its V8 flags, shared/node-flags.ts), and a
 * linked source map back to the TypeScript: `NODE_OPTIONS=--enable-source-maps` turns a stack
 * trace into file:line of the sources. Identifiers are minified too (keeping names cost more
 * memory than it saved); error messages and logs name things by their own strings.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = join(root, "dist", "agent", "main.js");
const outfile = join(root, "dist", "agent", "keepvip-agent.js");
if (!existsSync(entry)) {
  console.error(`bundle-agent: ${entry} is missing: run tsc first (npm run build)`);
  process.exit(1);
}

const result = await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  minify: true,
  sourcemap: "linked",
  // CommonJS packages inside an ES module call require() for Node's own modules.
  banner: { js: 'import { createRequire as __keepvipRequire } from "node:module"; const require = __keepvipRequire(import.meta.url);' },
  logLevel: "warning",
  metafile: true,
  // grpc-js loads proto-loader (and protobufjs with it, 130 KB of text) only for channelz and
  // ORCA, which the agent never turns on: left out, it stays a require() of the installed
  // package that never runs.
  external: ["@grpc/proto-loader"],
});
const bytes = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? 0;
console.log(`bundle-agent: ${outfile.slice(root.length + 1)} (${(bytes / 1024 / 1024).toFixed(1)} MB)`);
