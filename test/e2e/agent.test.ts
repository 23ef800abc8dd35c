/**
 * The real agent against the real coordinator in the lab:
 * the VIP on the right interface and a neighbour learning the holder's MAC
 * from gratuitous ARP, notify scripts with keepalived's arguments, a track's
 * weight in the priority the coordinator reports, and the local release that
 * comes before the coordinator acts when nginx cannot start.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { breakNginx, fixNginx, killProcess, labPaths, restartProcess, startProcess, stopProcess } from "../../deploy/lab/api.js";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { adminCli } from "../../deploy/lab/admin.js";
import { isAlive as isProcessAlive, readPidFile } from "../../deploy/lab/procfs.js";
import { clusterStatus, drill, figures, onlyOn as onlyOnIn, steady, waitFor, useLab } from "./helpers/drill.js";

const P = "kva";
const onlyOn = (host: string) => onlyOnIn(P, host);

function ip(ns: string, ...args: string[]): string {
  const r = spawnSync("ip", ["-n", `${P}-${ns}`, ...args], { encoding: "utf8", timeout: 5000 });
  assert.equal(r.status, 0, `ip -n ${P}-${ns} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const macOf = (host: string) => (JSON.parse(ip(host, "-j", "link", "show", "lan0")) as Array<{ address: string }>)[0].address;
const clientNeighbourMac = () => /lladdr ([0-9a-f:]{17})/.exec(ip("client", "neigh", "show", "198.18.0.100"))?.[1];

/** JSON log lines of one lab process. */
function logLines(host: string, proc: string): Array<Record<string, unknown>> {
  const file = join(labPaths(P).logs, `${host}-${proc}.log`);
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

useLab(P);

test("the VIP is on the holder's lan0 only, and a gratuitous ARP moves the client's neighbour entry to the new holder's MAC", async () => {
  assert.match(ip("lb1", "-4", "addr", "show", "dev", "lan0"), /inet 198\.18\.0\.100\/24/);
  assert.doesNotMatch(ip("lb1", "-4", "addr", "show", "dev", "ctl0"), /198\.18\.0\.100/);
  assert.doesNotMatch(ip("lb2", "-4", "addr", "show", "dev", "lan0"), /198\.18\.0\.100/);
  // The client talks to the VIP once, so its table holds lb1's MAC.
  spawnSync("ip", ["netns", "exec", `${P}-client`, "ping", "-c", "1", "-W", "1", "198.18.0.100"], { timeout: 5000 });
  assert.equal(clientNeighbourMac(), macOf("lb1"));
  // Planned move to lb2; the client sends nothing meanwhile, so only lb2's GARP can update its entry.
  await stopProcess(P, "lb1", "agent");
  await waitFor("the VIP only on lb2", 10_000, async () => ((await onlyOn("lb2")()) ? true : undefined), 20);
  const mac = await waitFor("the client's entry for the VIP to name lb2's MAC", 2000, () => (clientNeighbourMac() === macOf("lb2") ? true : undefined), 20);
  assert.equal(mac, true);
  await startProcess(P, "lb1", "agent");
  await steady(P, "lb1");
  assert.equal(clientNeighbourMac(), macOf("lb1"), "and back to lb1's after the preempt");
});

test("notify scripts run on every transition with keepalived's arguments (INSTANCE group state priority)", async () => {
  const read = (host: string) => {
    const file = join(labPaths(P).logs, `${host}-notify.log`);
    return existsSync(file)
      ? readFileSync(file, "utf8")
          .trim()
          .split("\n")
          .map((l) => l.split(" ").slice(1).join(" "))
      : [];
  };
  // The previous test moved the VIP lb1 → lb2 → lb1 with a stop and a start of lb1's agent.
  const lb1 = read("lb1");
  const lb2 = read("lb2");
  assert.ok(lb1.includes("INSTANCE VI_1 MASTER 0"), lb1.join("\n"));
  assert.ok(lb1.includes("INSTANCE VI_1 STOP 0"), lb1.join("\n"));
  const i = lb1.indexOf("INSTANCE VI_1 STOP 0");
  assert.equal(lb1.lastIndexOf("INSTANCE VI_1 MASTER 0") > i, true, "MASTER again after the restart");
  assert.ok(lb2.includes("INSTANCE VI_1 MASTER 0") && lb2.includes("INSTANCE VI_1 BACKUP 0"), lb2.join("\n"));
  assert.ok(lb2.lastIndexOf("INSTANCE VI_1 BACKUP 0") > lb2.indexOf("INSTANCE VI_1 MASTER 0"), "lb2 went back to BACKUP after lb1 preempted");
});

test("a failing track script's weight (-20) lowers the effective priority the coordinator reports", async () => {
  await steady(P);
  await breakNginx(P, "lb2");
  try {
    await killProcess(P, "lb2", "nginx");
    const lb2 = await waitFor(
      "lb2 at 70 (90 - 20: chk_nginx failing)",
      10_000,
      async () => {
        const m = (await clusterStatus(P))?.members.find((x) => x.nodeId === "lb2");
        return m && m.effectivePriority === 70 ? m : undefined;
      },
      100,
    );
    assert.equal(lb2.basePriority, 90);
    assert.equal(lb2.state, "FAULT");
    assert.deepEqual(await (async () => (await clusterStatus(P))?.holder)(), "lb1", "the holder did not move");
  } finally {
    await fixNginx(P, "lb2");
  }
  await steady(P);
  const back = (await clusterStatus(P))?.members.find((x) => x.nodeId === "lb2");
  assert.equal(back?.effectivePriority, 90);
});

test("nginx unable to start: the agent releases the VIP itself before the coordinator tells the backup to acquire", async () => {
  await steady(P);
  const since = Date.now();
  await breakNginx(P, "lb1");
  try {
    await killProcess(P, "lb1", "nginx");
    await waitFor("the VIP only on lb2", 10_000, async () => ((await onlyOn("lb2")()) ? true : undefined), 20);
  } finally {
    await fixNginx(P, "lb1");
  }
  const t = (l: Record<string, unknown>) => Date.parse(String(l.time));
  const released = logLines("lb1", "agent").find((l) => l.event === "vip.release.local" && t(l) >= since);
  assert.ok(
    logLines("lb1", "agent").some((l) => l.event === "agent.fault" && t(l) >= since),
    "lb1 went FAULT",
  );
  const coord = logLines("coord", "coordinator").filter((l) => t(l) >= since);
  const told = coord.find((l) => l.event === "command.acquire" && l.node === "lb2");
  assert.ok(told, "the coordinator logged the acquire it sent lb2");
  // The chk_nginx track (weight -20) can fail a moment before nginx's restart does: its
  // report makes lb2 preempt (a planned move, make-before-break) while lb1 is going FAULT,
  // and the coordinator's release may reach lb1 first. Then nothing is left to release
  // locally; the move itself was planned. Otherwise the FAULT release comes first.
  const why = coord.find((l) => l.event === "unit.election" && l.node === "lb2" && t(l) <= t(told) + 5);
  if (!/preempts/.test(String(why?.msg))) {
    assert.ok(released, "lb1 logged its own release");
    assert.ok(t(released) <= t(told), `local release at ${String(released.time)}, coordinator's acquire at ${String(told.time)}`);
  }
  await steady(P, "lb1", 30_000);
});

test("an agent SIGHUP applies a track script's new interval and new notify scripts in place: same process, no move", async () => {
  await steady(P);
  const paths = labPaths(P);
  const file = paths.agentConfig("lb2");
  const original = readFileSync(file, "utf8");
  const pid = readPidFile(paths.pidFile("lb2", "agent"));
  assert.ok(pid, "lb2's agent pid");
  const runs = join(paths.logs, "lb2-track-runs.log");
  const notified = join(paths.logs, "lb2-notify-reloaded.log");
  const epoch = (await clusterStatus(P))?.epoch;
  try {
    // The track keeps its check but now also counts its runs, every 300 ms instead of 100 ms;
    // transitions go to another file.
    const cfg = parseYaml(original) as { tracks: { chk_nginx: { script: string[]; interval: string; timeout: string } }; notify: { any: string[] } };
    const check = cfg.tracks.chk_nginx.script.map((a) => `'${a}'`).join(" ");
    cfg.tracks.chk_nginx = { script: ["/bin/sh", "-c", `printf '.\\n' >> ${runs}; exec ${check}`], interval: "300ms", timeout: "300ms" };
    cfg.notify.any = [cfg.notify.any[0], cfg.notify.any[1], notified];
    writeFileSync(file, stringifyYaml(cfg));
    process.kill(pid, "SIGHUP");
    await waitFor("lb2's reload applied tracks and notify", 5000, () =>
      logLines("lb2", "agent").some((l) => l.event === "config.reload" && JSON.stringify(l.applied) === JSON.stringify(["tracks", "notify"]))
        ? true
        : undefined,
    );
    await waitFor("the new track script ran", 5000, () => (existsSync(runs) ? true : undefined), 50);
    const count = () => readFileSync(runs, "utf8").split("\n").filter(Boolean).length;
    const before = count();
    await new Promise((r) => setTimeout(r, 3000));
    const ran = count() - before;
    assert.ok(ran >= 5 && ran <= 15, `about 10 runs in 3 s at the new 300 ms interval, got ${ran} (at the old 100 ms: about 30)`);
    assert.equal(readPidFile(paths.pidFile("lb2", "agent")), pid, "the same process");
    assert.equal(isProcessAlive(pid), true);
    assert.equal((await clusterStatus(P))?.epoch, epoch, "nothing moved on the reload");

    // The next transition runs the new notify script.
    const c = await adminCli(P, ["switchover", "VI_1", "--to", "lb2"]);
    assert.equal(c.code, 0, c.err);
    await waitFor("lb2's new notify script saw MASTER", 10_000, () =>
      existsSync(notified) && readFileSync(notified, "utf8").includes("INSTANCE VI_1 MASTER") ? true : undefined,
    );
  } finally {
    writeFileSync(file, original);
    process.kill(pid, "SIGHUP");
    await adminCli(P, ["switchover", "VI_1", "--to", "lb1"]);
  }
  await steady(P);
});

const RESTARTS = 6;

test(`restart lb1 agent on the holder, ${RESTARTS} times (what systemctl restart does): the VIP never leaves lb1, 0 failed requests, no new epoch; a stop still hands over`, async (t) => {
  await steady(P);
  const epoch = (await clusterStatus(P))?.epoch;
  const restartsBefore = logLines("lb1", "agent").filter((l) => l.event === "agent.restart").length;
  const r = await drill(
    P,
    async () => {
      for (let i = 0; i < RESTARTS; i++) {
        await restartProcess(P, "lb1", "agent");
        await steady(P, "lb1", 30_000);
      }
    },
    { afterMs: 1000, observeMs: 120_000 },
  );
  t.diagnostic(figures(`${RESTARTS} agent restarts on the holder`, r));
  assert.equal(r.probes.failed, 0, `failed requests: ${JSON.stringify(r.probes.errors)}`);
  assert.deepEqual(
    r.vip.changes.map((c) => c.holders.join(",")),
    ["lb1"],
    `the VIP left lb1: ${JSON.stringify(r.vip.changes)}`,
  );
  assert.equal((await clusterStatus(P))?.epoch, epoch, "no new epoch: the coordinator kept lb1 as holder");
  assert.equal(
    logLines("lb1", "agent").filter((l) => l.event === "agent.restart").length - restartsBefore,
    RESTARTS,
    "every restart a restart: no handover asked",
  );

  // A stop is still a planned move.
  await stopProcess(P, "lb1", "agent");
  await waitFor("the VIP only on lb2 after lb1's agent stopped", 10_000, async () => ((await onlyOn("lb2")()) ? true : undefined), 20);
  await startProcess(P, "lb1", "agent");
  await steady(P, "lb1");
});
