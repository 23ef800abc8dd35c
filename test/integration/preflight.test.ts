/**
 * `keepvip-agent --preflight` as a subprocess inside a namespace this test
 * makes (kvP-h): real ip, real nginx -t, real /proc/sys of that namespace, a
 * real TCP connect. First the host is wrong in four ways (a tracked link down,
 * arp_ignore 8, nginx bound to a VIP without ip_nonlocal_bind, no
 * coordinator); the checklist names each one and exits 1. Then each is fixed
 * and it exits 0, leaving only warnings.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CheckItem } from "../../agent/preflight-checks.js";
import { ARPING, IP, requireRoot, sh } from "./helpers/netns-kvA.js";
import { defaultKeepvipBins } from "../../deploy/lab/paths.js";

/** The agent as the package ships it (the bundle). */
const AGENT_BIN = defaultKeepvipBins().agent;

const NS = "kvP-h";
const LAN = "kvP-lan";
const TRACKED = "kvP-trk";
const HOST = "198.18.0.11";
const VIP = "198.18.0.100";
const COORD_PORT = 17400;
const NGINX = "/usr/sbin/nginx";

let dir = "";
let configFile = "";
let listener: ChildProcess | undefined;

before(async () => {
  requireRoot();
  await sh([IP, "netns", "del", NS]).catch(() => undefined);
  await sh([IP, "netns", "add", NS]);
  await sh([IP, "-n", NS, "link", "set", "lo", "up"]);
  // veth pairs inside the namespace (no dummy module in every kernel): both ends up = carrier.
  await sh([IP, "-n", NS, "link", "add", LAN, "type", "veth", "peer", "name", `${LAN}p`]);
  await sh([IP, "-n", NS, "addr", "add", `${HOST}/24`, "dev", LAN]);
  await sh([IP, "-n", NS, "link", "set", `${LAN}p`, "up"]);
  await sh([IP, "-n", NS, "link", "set", LAN, "up"]);
  await sh([IP, "-n", NS, "link", "add", TRACKED, "type", "veth", "peer", "name", `${TRACKED}p`]);
  await sh([IP, "-n", NS, "link", "set", `${TRACKED}p`, "up"]);
  dir = mkdtempSync(join(tmpdir(), "keepvip-preflight-"));
  mkdirSync(join(dir, "logs"));
  mkdirSync(join(dir, "conf.d"));
  writeFileSync(join(dir, "conf.d/keepvip-upstreams.conf"), "");
  // The seed's style: nginx listens on the VIP itself (a backup must bind it without holding it).
  writeFileSync(
    join(dir, "nginx.conf"),
    `error_log ${dir}/logs/error.log;\npid ${dir}/nginx.pid;\nevents {}\nhttp {\n  access_log off;\n  include ${dir}/conf.d/*.conf;\n  server { listen ${VIP}:18080; return 200; }\n}\n`,
  );
  configFile = join(dir, "agent.yaml");
  writeFileSync(
    configFile,
    [
      "node_id: lb1",
      `coordinator: "${HOST}:${COORD_PORT}"`,
      "insecure: true",
      `state_dir: ${dir}/state`,
      `groups: { VI_1: { interface: ${LAN} } }`,
      `track_interfaces: [${TRACKED}]`,
      `ip: ${IP}`,
      `arping: ${ARPING}`,
      `nginx: { mode: child, binary: ${NGINX}, prefix: ${dir}, conf: ${dir}/nginx.conf, pid_file: ${dir}/nginx.pid, upstream_file: ${dir}/conf.d/keepvip-upstreams.conf }`,
      "",
    ].join("\n"),
  );
});

after(async () => {
  if (listener?.pid !== undefined && listener.exitCode === null) {
    listener.kill("SIGTERM");
    await new Promise((r) => (listener!.exitCode !== null ? r(null) : listener!.once("exit", r)));
  }
  await sh([IP, "netns", "del", NS]).catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function sysctl(setting: string): void {
  const r = spawnSync(IP, ["netns", "exec", NS, "sysctl", "-qw", setting], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
}

function preflight(json: boolean): { code: number | null; out: string; err: string } {
  const r = spawnSync(IP, ["netns", "exec", NS, process.execPath, AGENT_BIN, "--config", configFile, "--preflight", ...(json ? ["--json"] : [])], {
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function checks(out: string): Map<string, CheckItem> {
  const parsed = JSON.parse(out) as { checks: CheckItem[] };
  return new Map(parsed.checks.map((c) => [c.id, c]));
}

test("a host with four problems: each is named with its fix, exit 1", () => {
  sysctl(`net.ipv4.conf.${LAN}.arp_ignore=8`);
  sysctl("net.ipv4.ip_nonlocal_bind=0");
  const r = preflight(true);
  assert.equal(r.code, 1, r.err);
  const c = checks(r.out);
  const status = (id: string) => c.get(id)?.status;
  assert.equal(status("tool.ip"), "ok");
  assert.equal(status("tool.arping"), "ok");
  assert.equal(status("capability.cap_net_admin"), "ok", "root in the test: all capabilities");
  assert.equal(status(`interface.${LAN}`), "ok");
  assert.equal(status(`interface.${TRACKED}`), "fail");
  assert.match(c.get(`interface.${TRACKED}`)!.fix!, new RegExp(`ip link set ${TRACKED} up`));
  assert.equal(status(`sysctl.${LAN}.arp_ignore`), "fail");
  assert.equal(status("sysctl.ip_nonlocal_bind"), "fail");
  assert.match(c.get("sysctl.ip_nonlocal_bind")!.title, new RegExp(`cannot bind ${VIP.replaceAll(".", "\\.")}:18080`));
  assert.equal(status("nginx.binary"), "ok");
  assert.equal(status("nginx.test"), "fail");
  assert.equal(status("coordinator.reach"), "fail");
  assert.match(c.get("coordinator.reach")!.title, /ECONNREFUSED/);
  assert.equal(status("coordinator.tls"), "warn", "insecure: said out loud");
  assert.equal(status("state_dir"), "ok", "not there yet, but creatable");
});

test("fixed one by one: the checklist turns ✔ and exits 0, warnings left", async () => {
  await sh([IP, "-n", NS, "link", "set", TRACKED, "up"]);
  sysctl(`net.ipv4.conf.${LAN}.arp_ignore=1`);
  sysctl("net.ipv4.ip_nonlocal_bind=1");
  sysctl(`net.ipv4.conf.${LAN}.rp_filter=1`);
  // A coordinator stand-in: something accepting TCP on the configured address, in the namespace.
  listener = spawn(
    IP,
    [
      "netns",
      "exec",
      NS,
      process.execPath,
      "-e",
      `require("net").createServer((s) => s.destroy()).listen(${COORD_PORT}, "${HOST}", () => console.log("listening"))`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the TCP stand-in did not start within 10 s")), 10_000);
    listener!.stdout!.once("data", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const json = preflight(true);
  assert.equal(json.code, 0, json.out);
  const c = checks(json.out);
  assert.deepEqual(
    [...c.values()].filter((i) => i.status === "fail"),
    [],
  );
  assert.equal(c.get(`sysctl.${LAN}.rp_filter`)?.status, "warn", "strict rp_filter is a warning");
  assert.match(c.get("sysctl.ip_nonlocal_bind")!.title, new RegExp(`may listen on ${VIP.replaceAll(".", "\\.")}:18080`));
  assert.equal(c.get("nginx.test")?.status, "ok");
  assert.equal(c.get("coordinator.reach")?.status, "ok");

  const human = preflight(false);
  assert.equal(human.code, 0);
  assert.match(human.out, /^keepvip-agent preflight — node lb1/);
  assert.match(human.out, new RegExp(`^✔ VIP interface ${LAN} is up$`, "m"));
  assert.match(human.out, /^! rp_filter on kvP-lan is 1 \(strict\)\n {4}why: .+\n {4}fix: .+rp_filter=2/m);
  assert.match(human.out, /ready: nothing blocks the agent \(2 warnings\)\n$/);
});

test("a config that does not validate never reaches the checks", () => {
  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, "node_id: lb1\ncoordinator: nowhere\ngroups: {}\n");
  const r = spawnSync(process.execPath, [AGENT_BIN, "--config", bad, "--preflight"], { encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /coordinator/);
  assert.equal(r.stdout, "");
});
