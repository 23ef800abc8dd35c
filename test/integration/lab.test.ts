/**
 * The lab with `--stack none` (topology, backends, nginx started by the lab), prefix kvC:
 * the client reaches both backends through an LB, pid files track every process, and each
 * fault drill does what it says. Torn down in `after`, even when a test fails.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import * as lab from "../../deploy/lab/api.js";
import { REPO_ROOT } from "../../deploy/lab/paths.js";
import { isAlive } from "../../deploy/lab/procfs.js";
import { eventually, getInNs, namespaces, run } from "./helpers/lab-client.js";

const P = "kvC";
const DECOY = "kvCC-lb1"; // a namespace whose name starts with kvC- 's prefix text: down must not touch it
const VIP_URL = "http://198.18.0.100:10016/aaa";
const body = (ip: string) => `{"msg":"success","status":"1","server_ip":"${ip}"}`;
const cli = (...args: string[]) => run([process.execPath, "--import", "tsx", `${REPO_ROOT}/deploy/lab/main.ts`, ...args, "--prefix", P], 60_000);
const pidOf = (host: string, proc: string) => Number(readFileSync(lab.labPaths(P).pidFile(host as lab.Host, proc), "utf8"));
const alive = isAlive; // zombie-aware: a killed child of this test stays a zombie until reaped

before(async () => {
  await lab.labDown(P);
  await run(["ip", "netns", "del", DECOY]);
  await run(["ip", "netns", "add", DECOY]);
  const r = await lab.labUp({ prefix: P, stack: "none" });
  assert.deepEqual(Object.keys(r.pids).sort(), ["b1-backend", "b2-backend", "lb1-nginx", "lb2-nginx"]);
});

after(async () => {
  await lab.labDown(P);
  await run(["ip", "netns", "del", DECOY]);
});

test("up builds every namespace and starts every process with a pid file", async () => {
  const s = await lab.labStatus(P);
  assert.equal(s.up, true);
  assert.deepEqual(
    s.namespaces.map((n) => n.name),
    ["kvC-sw", "kvC-coord", "kvC-lb1", "kvC-lb2", "kvC-b1", "kvC-b2", "kvC-client"],
  );
  assert.deepEqual(
    s.processes.map((p) => [p.host, p.name, p.alive]),
    [
      ["b1", "backend", true],
      ["b2", "backend", true],
      ["lb1", "nginx", true],
      ["lb2", "nginx", true],
    ],
  );
  for (const p of s.processes) assert.ok(alive(pidOf(p.host, p.name)), `${p.host}-${p.name}`);
  assert.deepEqual(s.vipHolders, []);
  assert.ok(
    s.ports.every((p) => p.link?.adminUp && p.link.carrier && p.switchPort?.attached),
    JSON.stringify(s.ports),
  );
  await assert.rejects(
    lab.labUp({ prefix: P, stack: "none" }),
    /lab "kvC" is already \(partly\) up: namespaces kvC-sw, .* exist; run `npm run lab -- down --prefix kvC` first/,
  );
});

test("through the VIP on lb1 the client reaches both backends, each answering the seed's exact JSON", async () => {
  await run(["ip", "netns", "exec", `${P}-lb1`, "ip", "addr", "add", "198.18.0.100/24", "dev", "lan0"]);
  try {
    assert.deepEqual(await lab.vipHolders(P), ["lb1"]);
    const bodies = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await getInNs(`${P}-client`, VIP_URL);
      assert.equal(r.status, 200, JSON.stringify(r));
      bodies.add(r.body ?? "");
    }
    assert.deepEqual([...bodies].sort(), [body("198.18.0.21"), body("198.18.0.22")]);
    const records = await lab.startProber(P, { count: 40, durationMs: 5000 }).done;
    const sum = lab.analyzeProbes(records);
    assert.equal(sum.failed, 0, JSON.stringify(sum.errors));
    assert.ok(sum.total >= 39, `total ${sum.total}`);
    assert.ok((sum.answeredBy["198.18.0.21"] ?? 0) > 5 && (sum.answeredBy["198.18.0.22"] ?? 0) > 5, JSON.stringify(sum.answeredBy));
  } finally {
    await run(["ip", "netns", "exec", `${P}-lb1`, "ip", "addr", "del", "198.18.0.100/24", "dev", "lan0"]);
  }
});

test("the VIP sampler sees the VIP on lb1, then on both, then on lb2", async () => {
  const sampler = lab.startVipSampler(P, { durationMs: 20_000 });
  await sampler.ready;
  const ipIn = (host: string, verb: "add" | "del") => run(["ip", "netns", "exec", `${P}-${host}`, "ip", "addr", verb, "198.18.0.100/24", "dev", "lan0"]);
  const holders = async (want: string) =>
    eventually(
      () => {
        const last = lab.summarizeVipEvents(sampler.events, ["lb1", "lb2"]).changes.at(-1);
        return last?.holders.join("+") === want;
      },
      2000,
      5,
    );
  await ipIn("lb1", "add");
  assert.ok(await holders("lb1"));
  await ipIn("lb2", "add");
  assert.ok(await holders("lb1+lb2"));
  await new Promise((r) => setTimeout(r, 100)); // hold "both" long enough to measure it
  await ipIn("lb1", "del");
  assert.ok(await holders("lb2"));
  await ipIn("lb2", "del");
  const sum = await sampler.stop();
  assert.deepEqual(
    sum.changes.map((c) => c.holders.join("+")),
    ["", "lb1", "lb1+lb2", "lb2", ""],
  );
  assert.ok(sum.longestBothMs >= 90 && sum.longestBothMs < 2000, `both for ${sum.longestBothMs} ms`);
});

test("kill b1 backend: it is gone with its pid file, b2 answers alone; start brings it back", async () => {
  const old = pidOf("b1", "backend");
  await lab.killProcess(P, "b1", "backend");
  assert.equal(alive(old), false);
  assert.equal(existsSync(lab.labPaths(P).pidFile("b1", "backend")), false);
  assert.equal((await getInNs(`${P}-lb1`, "http://198.18.0.21:10016/aaa")).error, "ECONNREFUSED");
  const r = await getInNs(`${P}-client`, "http://198.18.0.11:10016/aaa");
  assert.equal(r.body, body("198.18.0.22"));
  await assert.rejects(lab.stopProcess(P, "b1", "backend"), /b1 backend is not running/);
  const pid = await lab.startProcess(P, "b1", "backend");
  assert.notEqual(pid, old);
  assert.equal(pidOf("b1", "backend"), pid);
  assert.equal((await getInNs(`${P}-lb1`, "http://198.18.0.21:10016/aaa")).body, body("198.18.0.21"));
  await assert.rejects(lab.startProcess(P, "b1", "backend"), /already running/);
});

test("link lb1 lan down takes lb1's lan0 down; up brings it back", async () => {
  const down = await lab.setLink(P, "lb1", "lan", "down");
  assert.deepEqual([down.adminUp, down.carrier], [false, false]);
  assert.ok((await getInNs(`${P}-client`, "http://198.18.0.11:10016/aaa", 300)).error);
  const up = await lab.setLink(P, "lb1", "lan", "up");
  assert.equal(up.adminUp, true);
  assert.ok(await eventually(async () => (await getInNs(`${P}-client`, "http://198.18.0.11:10016/aaa", 300)).status === 200, 5000));
});

test("partition lb1 lan: no traffic either way while lb1's lan0 keeps carrier; heal restores it", async () => {
  const s = await lab.partition(P, "lb1", "lan");
  assert.deepEqual([s.port.attached, s.link.adminUp, s.link.carrier], [false, true, true]);
  const into = await getInNs(`${P}-client`, "http://198.18.0.11:10016/aaa", 300);
  assert.ok(into.error && into.status === undefined, JSON.stringify(into));
  const out = await getInNs(`${P}-lb1`, "http://198.18.0.21:10016/aaa", 300);
  assert.ok(out.error, JSON.stringify(out));
  const link = await run(["ip", "-n", `${P}-lb1`, "-j", "link", "show", "dev", "lan0"]);
  const flags = (JSON.parse(link.stdout) as Array<{ flags: string[]; operstate: string }>)[0];
  assert.ok(flags.flags.includes("LOWER_UP") && flags.operstate === "UP", link.stdout);
  const st = await cli("status");
  assert.match(st.stdout, /lb1\s+lan0\s+link up\s+switch port lb1-lan\s+PARTITIONED/);
  await lab.heal(P, "lb1", "lan");
  assert.ok(await eventually(async () => (await getInNs(`${P}-client`, "http://198.18.0.11:10016/aaa", 300)).status === 200, 5000));
  assert.equal((await getInNs(`${P}-lb1`, "http://198.18.0.21:10016/aaa")).status, 200);
});

test("break-nginx keeps the running nginx; once killed it cannot start; fix-nginx lets it start", async () => {
  lab.breakNginx(P, "lb2");
  assert.equal((await getInNs(`${P}-client`, "http://198.18.0.12:10016/aaa")).status, 200);
  await lab.killProcess(P, "lb2", "nginx");
  assert.ok((await getInNs(`${P}-client`, "http://198.18.0.12:10016/aaa", 300)).error, "a killed nginx (workers too) serves nothing");
  await assert.rejects(lab.startProcess(P, "lb2", "nginx"), /lb2 nginx exited at start[\s\S]*unknown directive "keepvip_lab_broken_on_purpose"/);
  assert.equal(existsSync(lab.labPaths(P).pidFile("lb2", "nginx")), false);
  lab.fixNginx(P, "lb2");
  const pid = await lab.startProcess(P, "lb2", "nginx");
  assert.equal(pidOf("lb2", "nginx"), pid);
  assert.equal((await getInNs(`${P}-client`, "http://198.18.0.12:10016/aaa")).status, 200);
});

test("the CLI: stop, status, start, a clear error for a process the stack does not run", async () => {
  const stop = await cli("stop", "lb1", "nginx");
  assert.equal(stop.exitCode, 0, stop.stderr);
  assert.match(stop.stdout, /lb1 nginx: stopped/);
  assert.match((await cli("status")).stdout, /lb1\s+nginx\s+-\s+not running/);
  const start = await cli("start", "lb1", "nginx");
  assert.equal(start.exitCode, 0, start.stderr);
  assert.match((await cli("status")).stdout, /lb1\s+nginx\s+\d+\s+running/);
  const bad = await cli("kill", "lb1", "keepalived");
  assert.equal(bad.exitCode, 1);
  assert.match(bad.stderr, /the none stack runs no "keepalived" on lb1 \(it runs: nginx\)/);
});

test("down removes the lab's namespaces, processes and pid files, no other namespace, and is safe twice", async () => {
  const pids = (await lab.labStatus(P)).processes.map((p) => p.pid ?? -1);
  const first = await lab.labDown(P);
  assert.equal(first.namespaces.length, 7);
  const left = await namespaces();
  assert.deepEqual(
    left.filter((n) => n.startsWith(`${P}-`)),
    [],
  );
  assert.ok(left.includes(DECOY), "down touched a namespace that is not its own");
  assert.ok(
    pids.every((p) => p > 0 && !alive(p)),
    "a lab process survived down",
  );
  assert.equal(existsSync(lab.labPaths(P).pids), false);
  const second = await lab.labDown(P);
  assert.deepEqual([second.killed, second.namespaces], [[], []]);
  const s = await lab.labStatus(P);
  assert.equal(s.up, false);
  assert.deepEqual(s.processes, []);
});

test("down after a crash: a half-built topology and stale pid files (a dead pid, someone else's live pid)", async () => {
  const paths = lab.labPaths(P);
  // What a crashed `up` could leave: the switch and one host with its link, pid files.
  await run(["ip", "netns", "add", `${P}-sw`]);
  await run(["ip", "netns", "add", `${P}-lb1`]);
  await run(["ip", "-n", `${P}-sw`, "link", "add", "lb1-lan", "type", "veth", "peer", "name", "lan0", "netns", `${P}-lb1`]);
  mkdirSync(paths.pids, { recursive: true });
  writeFileSync(paths.pidFile("lb1", "nginx"), `${process.pid}\n`); // alive, but not in kvC-lb1: must be spared
  writeFileSync(paths.pidFile("b1", "backend"), "4194303\n"); // no such process
  const r = await lab.labDown(P);
  assert.deepEqual(r.namespaces.sort(), [`${P}-lb1`, `${P}-sw`]);
  assert.deepEqual(r.killed, []);
  assert.ok(isAlive(process.pid));
  assert.deepEqual(
    (await namespaces()).filter((n) => n.startsWith(`${P}-`)),
    [],
  );
  assert.equal(existsSync(paths.pids), false);
});
