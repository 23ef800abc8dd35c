import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkLayers, formatViolation, importsOf } from "../check-layers.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "../..");

/** A throwaway tree: path → source. */
function withTree<T>(files: Record<string, string>, body: (root: string) => T): T {
  const root = mkdtempSync(join(tmpdir(), "keepvip-layers-"));
  try {
    for (const [path, source] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), source);
    }
    return body(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test("import specifiers are found in every form, each with its line", () => {
  const source = [
    'import { a } from "./a.js";', // 1
    'import type { B } from "../b.js";', // 2
    "import {", // 3
    "  c,", // 4
    '} from "./c.js";', // 5
    'export { d } from "./d.js";', // 6
    'export * from "./e.js";', // 7
    'import "./f.js";', // 8
    'const g = await import("./g.js");', // 9
    'export const h = "./not-an-import.js";', // 10
    ' * import x from "./in-a-comment-line.js" is not a statement here', // 11
    'import { createHash } from "node:crypto";', // 12
  ].join("\n");
  assert.deepEqual(importsOf(source), [
    { specifier: "./a.js", line: 1 },
    { specifier: "../b.js", line: 2 },
    { specifier: "./c.js", line: 5 },
    { specifier: "./d.js", line: 6 },
    { specifier: "./e.js", line: 7 },
    { specifier: "./f.js", line: 8 },
    { specifier: "./g.js", line: 9 },
    { specifier: "node:crypto", line: 12 },
  ]);
});

// Each row: a file and what it imports → the rule it breaks ("" when allowed).
const rows: Array<[file: string, specifier: string, rule: string]> = [
  ["shared/x.ts", "../agent/exec/runner.js", "shared/ imports nothing"],
  ["shared/deep/x.ts", "../../coordinator/election/view.js", "shared/ imports nothing"],
  ["shared/x.ts", "../cli/certs.js", "shared/ imports nothing"],
  ["shared/x.ts", "./protocol.js", ""],
  ["agent/core/x.ts", "../../coordinator/election/view.js", "agent/ never imports coordinator/"],
  ["agent/x.ts", "../cli/main.js", "agent/ never imports coordinator/ or cli/"],
  ["agent/core/x.ts", "../../shared/protocol.js", ""],
  ["agent/core/x.ts", "../vip/plan.js", ""],
  ["coordinator/x.ts", "../agent/exec/runner.js", "coordinator/ never imports agent/"],
  ["coordinator/cluster/x.ts", "../../cli/certs.js", "coordinator/ never imports agent/ or cli/"],
  ["coordinator/cluster/engine.ts", "../grpc/limits.js", "domain never imports its transport"],
  ["coordinator/election/x.ts", "../grpc/server.js", "domain never imports its transport"],
  ["coordinator/metrics.ts", "./grpc/admin-service.js", "domain never imports its transport"],
  ["coordinator/main.ts", "./grpc/server.js", ""],
  ["coordinator/grpc/server.ts", "./admin-service.js", ""],
  ["coordinator/grpc/server.ts", "../cluster/engine.js", ""],
  ["cli/main.ts", "../shared/exec/runner.js", ""],
  ["cli/main.ts", "./importer/index.js", ""],
];

for (const [file, specifier, rule] of rows) {
  test(`${file} importing ${specifier}: ${rule || "allowed"}`, () => {
    const found = withTree({ [file]: `// a fixture\nimport { x } from "${specifier}";\n` }, checkLayers);
    if (rule === "") {
      assert.deepEqual(found, []);
      return;
    }
    assert.equal(found.length, 1, found.map(formatViolation).join("\n"));
    assert.equal(found[0].file, file);
    assert.equal(found[0].line, 2);
    assert.ok(found[0].rule.includes(rule), found[0].rule);
    assert.match(formatViolation(found[0]), new RegExp(`^${file.replace(/\./g, "\\.")}:2: `));
  });
}

test("generated code and package imports are not checked", () => {
  const found = withTree(
    {
      "shared/gen/keepvip/v1/x.ts": 'import { y } from "../../../../agent/y.js";\n',
      "agent/x.ts": 'import { z } from "@grpc/grpc-js";\n',
    },
    checkLayers,
  );
  assert.deepEqual(found, []);
});

test("the command exits 1 naming file:line and the rule on a wrong-way import, 0 on a clean tree", () => {
  const run = (root: string) =>
    spawnSync(process.execPath, ["--import", "tsx", join(REPO, "test/check-layers.ts"), root], { encoding: "utf8", timeout: 30_000 });
  const bad = withTree(
    { "shared/ok.ts": "export const ok = 1;\n", "shared/bad.ts": 'export const a = 1;\n\nimport type { T } from "../coordinator/t.js";\n' },
    run,
  );
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /shared\/bad\.ts:3: imports "\.\.\/coordinator\/t\.js": shared\/ imports nothing from agent\/, coordinator\/ or cli\//);

  const good = withTree({ "shared/ok.ts": "export const ok = 1;\n" }, run);
  assert.equal(good.status, 0, good.stderr);
});

test("the repository's own imports run one way", () => {
  assert.deepEqual(checkLayers(REPO).map(formatViolation), []);
});
