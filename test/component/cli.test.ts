/**
 * The `keepvip` CLI as a subprocess against the real coordinator (gRPC on
 * 127.0.0.1), with stand-in agents: status text and JSON, why, switchover,
 * maintenance, server overrides, events (history and --follow), validate,
 * import-keepalived, and the errors people see.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StandinAgent } from "../support/standin-agent.js";
import { waitFor } from "../support/wait.js";
import { clusterYaml, removeDir, startCoordinator, type TestCoordinator } from "./helpers/coordinator.js";

let coord: TestCoordinator;
let lb1: StandinAgent;
let lb2: StandinAgent;
const scratch = mkdtempSync(join(tmpdir(), "keepvip-cli-"));

/** Runs the CLI without blocking: the coordinator lives in this process and must keep answering. */
function cli(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["dist/cli/keepvip.js", "--insecure", "--coordinator", coord.address, "--timeout", "5000", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

before(async () => {
  coord = await startCoordinator(clusterYaml({ upstreams: true }));
  lb1 = new StandinAgent(coord.address, { node: "lb1", address: "198.18.0.11" }).connect();
  lb2 = new StandinAgent(coord.address, { node: "lb2", address: "198.18.0.12" }).connect();
  await waitFor(() => coord.engine.runtimes.get("VI_1")!.holder === "lb1", { what: "lb1 holds" });
});

after(async () => {
  lb1.destroy();
  lb2.destroy();
  await coord.stop();
  removeDir(coord.stateDir);
  rmSync(scratch, { recursive: true, force: true });
});

test("status prints the group, holder, members and upstreams for people", async () => {
  const r = await cli("status");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /VI_1 {2}VIP 198\.18\.0\.100\/24 {2}holder lb1 {2}epoch 1 {2}steady/);
  assert.match(r.out, /│ lb1 +│ MASTER +│ 100 +│ running +│ yes/);
  assert.match(r.out, /│ lb2 +│ BACKUP +│ 90 +│ running +│ yes/);
  assert.match(r.out, /upstream my10016 \(least_conn\) {2}version 1/);
  assert.match(r.out, /WARNING: the coordinator runs without TLS/);
  assert.doesNotMatch(r.out, /\x1b\[/, "no colour codes in a pipe");
});

test("status --json has stable field names that match the cluster", async () => {
  const r = await cli("--json", "status");
  assert.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out);
  assert.equal(s.groups[0].holder, "lb1");
  assert.equal(s.groups[0].epoch, coord.engine.runtimes.get("VI_1")!.epoch);
  assert.deepEqual(
    s.groups[0].members.map((m: { nodeId: string; effectivePriority: number; state: string }) => [m.nodeId, m.effectivePriority, m.state]),
    [
      ["lb1", 100, "MASTER"],
      ["lb2", 90, "BACKUP"],
    ],
  );
  assert.deepEqual(
    s.upstreams[0].servers.map((x: { address: string }) => x.address),
    ["198.18.0.21:10016", "198.18.0.22:10016"],
  );
});

test("why explains the holder with each member's inputs", async () => {
  const r = await cli("why", "VI_1");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /VI_1: holder lb1, epoch \d+/);
  assert.match(r.out, /rule: (kept-holder|initial-election)/);
  assert.match(r.out, /lb2: eligible, effective priority 90\n {2}- base priority 90/);
});

test("switchover moves the group (planned), prints what changed, and events --follow shows it live", async () => {
  const follow = spawn(process.execPath, ["dist/cli/keepvip.js", "--insecure", "--coordinator", coord.address, "events", "--follow", "--since", "1s"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let lines = "";
  follow.stdout.setEncoding("utf8").on("data", (d: string) => (lines += d));
  try {
    await new Promise((r) => setTimeout(r, 500));
    const r = await cli("switchover", "VI_1", "--to", "lb2");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /VI_1 moved from lb1 to lb2 \(epoch \d+\) in \d+ ms/);
    await waitFor(() => /move +VI_1 lb2 +lb2 holds VI_1/.test(lines), { what: "the move appears in the followed events", timeoutMs: 3000 });
    assert.match(lines, /admin +VI_1 lb2 +switchover of VI_1 to lb2 requested by /);
  } finally {
    follow.kill("SIGINT");
  }
  assert.equal(coord.engine.runtimes.get("VI_1")!.holder, "lb2");
});

test("switchover refuses an unknown group, a non-member and says why", async () => {
  const a = await cli("switchover", "VI_9", "--to", "lb1");
  assert.equal(a.code, 1);
  assert.match(a.err, /unknown group "VI_9" \(groups: VI_1\)/);
  const b = await cli("switchover", "VI_1", "--to", "lb7");
  assert.equal(b.code, 1);
  assert.match(b.err, /node "lb7" is not a member of VI_1 \(members: lb1, lb2\)/);
});

test("maintenance drains the holder to the other member, refuses to leave no holder, and off restores eligibility", async () => {
  const on = await cli("maintenance", "lb2", "on");
  assert.equal(on.code, 0, on.err);
  assert.match(on.out, /lb2 is in maintenance; its VIPs moved to other members/);
  assert.equal(coord.engine.runtimes.get("VI_1")!.holder, "lb1");
  const again = await cli("maintenance", "lb1", "on");
  assert.equal(again.code, 1);
  assert.match(again.err, /maintenance on lb1 would leave no holder for VI_1/);
  const off = await cli("maintenance", "lb2", "off");
  assert.equal(off.code, 0, off.err);
  assert.equal(coord.engine.nodes.views.get("lb2")!.maintenance, false);
  const bad = await cli("maintenance", "lb2", "maybe");
  assert.equal(bad.code, 2);
  assert.match(bad.err, /maintenance takes "on" or "off", got "maybe"/);
});

test("server overrides change the pushed upstream, and bad arguments are named", async () => {
  const before = coord.engine.upstreams.current().version;
  const r = await cli("server", "my10016", "198.18.0.21:10016", "drain");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /my10016 198\.18\.0\.21:10016: drain/);
  await waitFor(() => coord.engine.upstreams.current().version > before, { what: "a new upstream version" });
  assert.equal(coord.engine.upstreams.current().upstreams[0].servers[0].down, true);
  assert.equal((await cli("server", "my10016", "198.18.0.21:10016", "up")).code, 0);
  const w = await cli("server", "my10016", "198.18.0.21:10016", "weight", "0");
  assert.equal(w.code, 2);
  assert.match(w.err, /weight must be an integer 1\.\.1000, got "0"/);
  const u = await cli("server", "nope", "198.18.0.21:10016", "down");
  assert.equal(u.code, 1);
  assert.match(u.err, /unknown upstream "nope" \(upstreams: my10016\)/);
});

test("events --json prints NDJSON of the history", async () => {
  const r = await cli("--json", "events", "--since", "10m");
  assert.equal(r.code, 0, r.err);
  const events = r.out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.ok(events.some((e: { kind: string; message: string }) => e.kind === "admin" && /maintenance on for lb2/.test(e.message)));
  assert.ok(events.every((e: { atMs: number }) => typeof e.atMs === "number"));
});

test("validate accepts the examples and rejects a bad file naming the field", async () => {
  assert.equal((await cli("validate", "deploy/examples/coordinator.yaml")).code, 0);
  assert.match((await cli("validate", "deploy/examples/agent-lb1.yaml")).out, /OK \(agent config\)/);
  const bad = join(scratch, "bad.yaml");
  writeFileSync(bad, "node_id: lb1\ncoordinator: nowhere\ninsecure: true\ngroups: {}\n");
  const r = await cli("validate", bad);
  assert.equal(r.code, 1);
  assert.match(r.err, /bad\.yaml:2:\d+ coordinator: "nowhere" must be host:port/);
});

test("validate with several files checks them together: consistent is one line on stdout, a mismatch names both places on stderr (exit 1)", async () => {
  const examples = ["deploy/examples/coordinator.yaml", "deploy/examples/agent-lb1.yaml", "deploy/examples/agent-lb2.yaml"];
  const ok = await cli("validate", ...examples);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(ok.out, `3 files: ${examples.join(", ")}: consistent\n`);
  const json = await cli("--json", "validate", ...examples);
  assert.equal(JSON.parse(json.out).ok, true);
  const notrack = join(scratch, "agent-lb2-notrack.yaml");
  writeFileSync(notrack, readFileSync("deploy/examples/agent-lb2.yaml", "utf8").replace("chk_nginx:", "chk_other:"));
  const r = await cli("validate", examples[0], examples[1], notrack);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /agent-lb2-notrack\.yaml:\d+:\d+ tracks: lb2's agent does not run track chk_nginx, which group VI_1 lists \(deploy\/examples\/coordinator\.yaml:\d+:\d+ groups\[0\]\.tracks\[0\]\)/,
  );
  assert.equal((await cli("validate", "--kind", "agent", ...examples)).code, 2, "--kind is for one file");
});

test("import-keepalived writes configs that validate, lists what it did not map, and refuses to overwrite", async () => {
  const out = join(scratch, "imported");
  const args = [
    "import-keepalived",
    "test/fixtures/seed/keepalived-lb1.conf",
    "test/fixtures/seed/keepalived-lb2.conf",
    "--nginx",
    "test/fixtures/seed/my.conf",
    "--names",
    "lb1,lb2",
    "--out",
    out,
  ];
  const r = await cli(...args);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /wrote .*coordinator\.yaml, .*agent-lb1\.yaml, .*agent-lb2\.yaml/);
  assert.match(r.err, /^changed or not carried over \(\d+\):\n/);
  assert.match(r.err, /keepalived-lb1\.conf:\d+:\d+: vrrp_instance VI_1 authentication: not needed/);
  for (const f of ["coordinator.yaml", "agent-lb1.yaml", "agent-lb2.yaml"]) assert.equal((await cli("validate", join(out, f))).code, 0, f);
  assert.match(readFileSync(join(out, "agent-lb2.yaml"), "utf8"), /interface: ens33/);
  const again = await cli(...args);
  assert.equal(again.code, 1);
  assert.match(again.err, /already exist.*nothing written \(use --force to overwrite\)/);
});

test("import-keepalived rejects malformed keepalived.conf with line and column", async () => {
  const bad = join(scratch, "broken.conf");
  writeFileSync(bad, "vrrp_instance VI_1 {\n  interface eth0\n  virtual_ipaddress {\n    198.18.0.100\n  }\n");
  const r = await cli("import-keepalived", bad);
  assert.equal(r.code, 1);
  assert.match(r.err, /broken\.conf:1:1: block "vrrp_instance VI_1" is never closed \(missing "\}"\)/);
});

test("an unreachable coordinator is a sentence that says what to check, with exit code 3", async () => {
  const r = spawnSync(process.execPath, ["dist/cli/keepvip.js", "--insecure", "--coordinator", "127.0.0.1:1", "--timeout", "2000", "status"], {
    encoding: "utf8",
    timeout: 20_000,
  });
  assert.equal(r.status, 3);
  assert.match(r.stderr, /cannot reach the coordinator at 127\.0\.0\.1:1: check the address/);
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+:\d+/, "no stack trace");
});
