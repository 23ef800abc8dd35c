/** keepvip-coordinator as a subprocess: --check accepts the seed's config and rejects a bad one naming the field. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const bin = ["dist/coordinator/main.js"];

function run(args: string[]) {
  return spawnSync(process.execPath, [...bin, ...args], { encoding: "utf8", timeout: 20_000 });
}

test("--check accepts the seed's example config", () => {
  const r = run(["--config", "deploy/examples/coordinator.yaml", "--check"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /OK — 1 group\(s\), 0 sync group\(s\), 1 upstream\(s\)/);
});

test("--check rejects a bad config, naming file, line and field, and exits non-zero", () => {
  const dir = mkdtempSync(join(tmpdir(), "keepvip-cli-"));
  try {
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      'groups:\n  - name: VI_1\n    vips: ["198.18.0.100/24"]\n    service: { port: 10016 }\n    members:\n      - { node: lb1, priority: 255 }\n',
    );
    const r = run(["--config", file, "--check"]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, "\\.")}:6:\\d+ groups\\[0\\]\\.members\\[0\\]\\.priority: must be at most 254, got 255`));
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, "no stack trace");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a missing config file is a clear error", () => {
  const r = run(["--config", "/nonexistent/keepvip.yaml", "--check"]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot read \/nonexistent\/keepvip\.yaml: ENOENT/);
});
