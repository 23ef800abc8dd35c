/**
 * The layer check (npm run check:layers): imports between the top-level
 * folders run one way only.
 *
 *   agent/ ──► shared/ ◄── coordinator/        cli/ ──► shared/
 *   (the CLI and the agents reach the coordinator over gRPC only)
 *
 * - shared/ imports nothing from agent/, coordinator/ or cli/;
 * - agent/ and coordinator/ never import each other, nor cli/;
 * - inside the coordinator, the domain (everything but grpc/ and the
 *   composition root main.ts) never imports the transport (grpc/).
 *
 * Plain TypeScript, no dependencies: import specifiers are found with a
 * regex over every .ts file, resolved against the importing file, and each
 * wrong-way import is printed as file:line with the rule it breaks. Exits 1
 * on any. Run: `tsx test/check-layers.ts [root]`.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";

export interface Violation {
  /** Path of the importing file, relative to the root, with "/" separators. */
  file: string;
  line: number;
  specifier: string;
  rule: string;
}

interface Rule {
  name: string;
  /** The importing file (root-relative, "/" separators) falls under the rule. */
  from: (file: string) => boolean;
  /** The imported file (root-relative) is forbidden to it. */
  to: (target: string) => boolean;
}

const under = (dir: string) => (path: string) => path.startsWith(`${dir}/`);
const anyOf =
  (...dirs: string[]) =>
  (path: string) =>
    dirs.some((d) => under(d)(path));

export const RULES: readonly Rule[] = [
  { name: "shared/ imports nothing from agent/, coordinator/ or cli/", from: under("shared"), to: anyOf("agent", "coordinator", "cli") },
  { name: "agent/ never imports coordinator/ or cli/", from: under("agent"), to: anyOf("coordinator", "cli") },
  { name: "coordinator/ never imports agent/ or cli/", from: under("coordinator"), to: anyOf("agent", "cli") },
  {
    name: "the coordinator's domain never imports its transport (coordinator/grpc/)",
    from: (f) => under("coordinator")(f) && !under("coordinator/grpc")(f) && f !== "coordinator/main.ts",
    to: under("coordinator/grpc"),
  },
];

/** Folders whose files the rules constrain; generated code is skipped. */
const SCANNED = ["shared", "agent", "coordinator", "cli"];
const SKIPPED = new Set(["node_modules", "gen", "dist"]);

/** `import … from "x"`, `export … from "x"`, `import "x"`, `import("x")`. */
const IMPORT = /(?:^|[;\n])\s*(?:import|export)\s+(?:type\s+)?(?:[^;"'`]*?\sfrom\s*)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** The module specifiers of a TypeScript source, each with its 1-based line. */
export function importsOf(source: string): Array<{ specifier: string; line: number }> {
  const out: Array<{ specifier: string; line: number }> = [];
  for (const m of source.matchAll(IMPORT)) {
    const specifier = m[1] ?? m[2];
    const at = m.index + m[0].lastIndexOf(specifier);
    out.push({ specifier, line: source.slice(0, at).split("\n").length });
  }
  return out;
}

function tsFiles(dir: string, out: string[] = []): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries.sort()) {
    if (SKIPPED.has(e)) continue;
    const path = join(dir, e);
    if (statSync(path).isDirectory()) tsFiles(path, out);
    else if (e.endsWith(".ts") && !e.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

const posix = (path: string) => path.split(sep).join("/");

/** Every wrong-way import under root (empty when the layers hold). */
export function checkLayers(root: string): Violation[] {
  const violations: Violation[] = [];
  for (const dir of SCANNED) {
    for (const path of tsFiles(join(root, dir))) {
      const file = posix(relative(root, path));
      const rules = RULES.filter((r) => r.from(file));
      if (rules.length === 0) continue;
      for (const { specifier, line } of importsOf(readFileSync(path, "utf8"))) {
        if (!specifier.startsWith(".")) continue;
        const target = posix(relative(root, resolve(dirname(path), specifier)));
        for (const rule of rules) if (rule.to(target)) violations.push({ file, line, specifier, rule: rule.name });
      }
    }
  }
  return violations;
}

export function formatViolation(v: Violation): string {
  return `${v.file}:${v.line}: imports "${v.specifier}": ${v.rule}`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(process.argv[2] ?? join(dirname(new URL(import.meta.url).pathname), ".."));
  const violations = checkLayers(root);
  for (const v of violations) console.error(formatViolation(v));
  if (violations.length > 0) {
    console.error(`check-layers: ${violations.length} wrong-way import(s)`);
    process.exit(1);
  }
  console.log("check-layers: imports run one way");
}
