/**
 * UpstreamApplier sequencing with a fake nginx: what is on disk when `nginx -t`
 * runs, that a failing test leaves the last good file, that reloads follow
 * passing tests only, that bursts apply the newest push, and crash recovery.
 */
import { after, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UpstreamApplier, type NginxControl } from "../../agent/nginx/apply.js";
import { EMPTY_UPSTREAM_FILE } from "../../agent/nginx/upstream-file.js";
import { renderUpstreams } from "../../agent/nginx/render.js";
import type { NginxOutcome } from "../../agent/nginx/supervisor.js";
import type { UpstreamConfig } from "../../shared/gen/keepvip/v1/agent.js";
import { server, upstream } from "../fixtures/nginx/cases.js";

const dir = mkdtempSync(join(tmpdir(), "kvB-apply-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let path = "";
let n = 0;
beforeEach(() => {
  path = join(dir, `up-${++n}.conf`);
});

function config(version: number, address = "198.18.0.21:10016"): UpstreamConfig {
  return { version, upstreams: [upstream("my10016", [server(address, { maxFails: 3, failTimeoutS: 30 })], { balance: "least_conn" })] };
}

/** A fake nginx: records calls and what the file held at each test; tests fail when `bad(text)`. */
class FakeNginx implements NginxControl {
  calls: string[] = [];
  testedTexts: string[] = [];
  bad: (text: string) => boolean = () => false;
  reloadOk = true;
  /** Lets a test hold the first `nginx -t` open to pile up pushes behind it. */
  gate: Promise<void> | undefined;
  /** Resolves when the first `nginx -t` has begun. */
  entered: Promise<void>;
  private enter: () => void = () => undefined;
  private locked = false;

  constructor() {
    this.entered = new Promise((r) => (this.enter = r));
  }

  async test(): Promise<NginxOutcome> {
    assert.ok(this.locked, "nginx -t must run inside exclusive()");
    this.enter();
    await this.gate;
    const text = readFileSync(path, "utf8");
    this.testedTexts.push(text);
    this.calls.push(`test v${/version (\d+)/.exec(text)?.[1]}`);
    return this.bad(text) ? { ok: false, detail: `nginx -t failed: [emerg] host not found in upstream "x" in ${path}:7` } : { ok: true, detail: "" };
  }
  async reload(): Promise<NginxOutcome> {
    this.calls.push("reload");
    return this.reloadOk ? { ok: true, detail: "" } : { ok: false, detail: "SIGHUP failed" };
  }
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    assert.equal(this.locked, false, "applies must not overlap");
    this.locked = true;
    try {
      return await fn();
    } finally {
      this.locked = false;
    }
  }
}

function helpers(): string[] {
  return readdirSync(dir).filter((f) => f.startsWith(`up-${n}.conf.`));
}

test("a valid push is written, tested in place, then reloaded, and reported applied", async () => {
  const nginx = new FakeNginx();
  const applier = new UpstreamApplier({ path, control: nginx });
  const seen: unknown[] = [];
  applier.onApplied((r) => seen.push(r));
  const r = await applier.apply(config(5));
  assert.deepEqual(r, { version: 5, ok: true, error: "", superseded: false });
  assert.deepEqual(nginx.calls, ["test v5", "reload"]);
  assert.equal(readFileSync(path, "utf8"), renderUpstreams(config(5)));
  assert.deepEqual(seen, [r]);
  assert.deepEqual(applier.status(), { appliedVersion: 5, error: "" });
  assert.deepEqual(helpers(), [], "no helper files are left behind");
});

test("a push nginx -t rejects leaves the last good file in place, is never reloaded, and reports nginx's error", async () => {
  const nginx = new FakeNginx();
  const applier = new UpstreamApplier({ path, control: nginx });
  await applier.apply(config(1));
  const good = readFileSync(path, "utf8");
  nginx.bad = (text) => text.includes("198.18.0.99");
  const r = await applier.apply(config(2, "198.18.0.99:80"));
  assert.equal(r.ok, false);
  assert.match(r.error, /nginx -t failed: \[emerg\] host not found in upstream/);
  assert.equal(readFileSync(path, "utf8"), good, "the last good file is back");
  assert.ok(nginx.testedTexts[1].includes("198.18.0.99"), "the candidate was what nginx -t saw");
  assert.deepEqual(nginx.calls, ["test v1", "reload", "test v2"]);
  assert.deepEqual(applier.status(), { appliedVersion: 1, error: r.error });
  assert.deepEqual(helpers(), []);
});

test("a failing first push (no file before) leaves an empty include, which nginx accepts", async () => {
  const nginx = new FakeNginx();
  nginx.bad = () => true;
  const applier = new UpstreamApplier({ path, control: nginx });
  const r = await applier.apply(config(1));
  assert.equal(r.ok, false);
  assert.equal(readFileSync(path, "utf8"), EMPTY_UPSTREAM_FILE);
});

test("a push the renderer refuses touches nothing and names the field", async () => {
  const nginx = new FakeNginx();
  const applier = new UpstreamApplier({ path, control: nginx });
  await applier.apply(config(1));
  const before = readFileSync(path, "utf8");
  const r = await applier.apply(config(2, "1.2.3.4:80; include /etc/shadow"));
  assert.equal(r.ok, false);
  assert.match(r.error, /^upstreams\[0\]\.servers\[0\]\.address: /);
  assert.equal(readFileSync(path, "utf8"), before);
  assert.deepEqual(nginx.calls, ["test v1", "reload"], "nginx was not even tested");
});

test("under a burst the newest push wins; the ones in between are superseded, never the newest", async () => {
  const nginx = new FakeNginx();
  let open: () => void = () => undefined;
  nginx.gate = new Promise((r) => (open = r));
  const applier = new UpstreamApplier({ path, control: nginx });
  const first = applier.apply(config(1, "198.18.0.21:80"));
  await nginx.entered;
  const results = [first, ...[2, 3, 4, 5].map((v) => applier.apply(config(v, `198.18.0.${20 + v}:80`)))];
  open();
  const outcomes = await Promise.all(results);
  assert.deepEqual(
    outcomes.map((o) => [o.version, o.ok, o.superseded]),
    [
      [1, true, false],
      [2, false, true],
      [3, false, true],
      [4, false, true],
      [5, true, false],
    ],
  );
  assert.match(outcomes[1].error, /superseded by version 3/);
  assert.deepEqual(nginx.calls, ["test v1", "reload", "test v5", "reload"]);
  assert.ok(readFileSync(path, "utf8").includes("198.18.0.25:80"));
  assert.deepEqual(applier.status(), { appliedVersion: 5, error: "" });
});

test("pushes arriving in one tick collapse to the newest: one test, one reload", async () => {
  const nginx = new FakeNginx();
  const applier = new UpstreamApplier({ path, control: nginx });
  const outcomes = await Promise.all([1, 2, 3].map((v) => applier.apply(config(v, `198.18.0.${20 + v}:80`))));
  assert.deepEqual(
    outcomes.map((o) => o.ok),
    [false, false, true],
  );
  assert.deepEqual(nginx.calls, ["test v3", "reload"]);
});

test("a push arriving after the queue drained is applied too (nothing is lost between bursts)", async () => {
  const nginx = new FakeNginx();
  const applier = new UpstreamApplier({ path, control: nginx });
  await applier.apply(config(1));
  await applier.idle();
  assert.equal((await applier.apply(config(2, "198.18.0.22:80"))).ok, true);
  assert.deepEqual(nginx.calls, ["test v1", "reload", "test v2", "reload"]);
});

test("a re-sent config identical to the file is acknowledged without a test or reload", async () => {
  const nginx = new FakeNginx();
  const applier = new UpstreamApplier({ path, control: nginx });
  await applier.apply(config(3));
  const r = await applier.apply(config(3));
  assert.equal(r.ok, true);
  assert.deepEqual(nginx.calls, ["test v3", "reload"]);
});

test("a reload that fails after a passing test is reported, not counted as applied", async () => {
  const nginx = new FakeNginx();
  nginx.reloadOk = false;
  const applier = new UpstreamApplier({ path, control: nginx });
  const r = await applier.apply(config(9));
  assert.equal(r.ok, false);
  assert.match(r.error, /tested but reload failed: SIGHUP failed/);
  assert.equal(applier.status().appliedVersion, undefined);
});

test("recover() puts back the last good copy an interrupted apply left behind", async () => {
  writeFileSync(path, "# candidate nobody tested\n");
  writeFileSync(`${path}.keepvip-good`, "# the good one\n");
  const applier = new UpstreamApplier({ path, control: new FakeNginx() });
  assert.equal(await applier.recover(), true);
  assert.equal(readFileSync(path, "utf8"), "# the good one\n");
  assert.equal(existsSync(`${path}.keepvip-good`), false);
  assert.equal(await applier.recover(), false, "nothing to do the second time");
});
