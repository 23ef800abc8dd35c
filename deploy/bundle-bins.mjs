#!/usr/bin/env node
/**
 * The shipped bins of the agent and the admin client, dist/agent/keepvip-agent.js and
 * dist/cli/keepvip.js: tsc's output of agent/main.ts and cli/main.ts and everything each
 * imports (shared/, zod, grpc-js, pino, execa, commander, ...), bundled by esbuild into one
 * minified ES module each. Run by `npm run build` after tsc. The coordinator stays as tsc
 * wrote it.
 *
 * Why the agent: V8 keeps the source text of every module it loaded on its heap, and every
 * loaded module has its own records. One minified file is a third of the text (1.0 MB; 3.2 MB
 * unminified) and one module: an idle agent's RSS drops by about 5 MB (docs/benchmarks.md,
 * footprint).
 *
 * Why the CLI: it starts for every command, and loading some 400 module files was most of
 * its time. One file starts in about half the time (`keepvip status` on a busy machine: 0.25
 * to 0.35 s less) and with 16 MB less memory (docs/benchmarks.md, coordinator scale).
 *
 * zod is imported as a namespace (`import * as z`): esbuild then keeps only what the schemas
 * use (94 KB), where `import { z }` kept all of zod with every locale's messages (447 KB).
 *
 * What is kept: the first line of each entry (the agent's V8 flags, shared/node-flags.ts; the
 * CLI's `#!/usr/bin/env node`), and a linked source map back to the TypeScript:
 * `NODE_OPTIONS=--enable-source-maps` turns a stack trace into file:line of the sources.
 * Identifiers are minified too (keeping names cost more memory than it saved); error messages
 * and logs name things by their own strings.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bins = [
  { entry: join(root, "dist", "agent", "main.js"), outfile: join(root, "dist", "agent", "keepvip-agent.js") },
  { entry: join(root, "dist", "cli", "main.js"), outfile: join(root, "dist", "cli", "keepvip.js") },
];

for (const { entry, outfile } of bins) {
  if (!existsSync(entry)) {
    console.error(`bundle-bins: ${entry} is missing: run tsc first (npm run build)`);
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
    // ORCA, which neither bin turns on: left out, it stays a require() of the installed
    // package that never runs.
    external: ["@grpc/proto-loader"],
  });
  const bytes = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? 0;
  console.log(`bundle-bins: ${outfile.slice(root.length + 1)} (${(bytes / 1024 / 1024).toFixed(1)} MB)`);
}
