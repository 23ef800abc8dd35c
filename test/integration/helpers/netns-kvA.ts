/**
 * A small namespace lab for the VIP, probe and link tests (prefix kvA): a
 * bridge inside kvA-sw, hosts kvA-h1 and kvA-h2 (the two LBs) and kvA-h3 (a
 * client whose neighbour table shows who the LAN thinks holds the VIP), on
 * 198.18.0.0/24. Nothing touches the root namespace: its veths are created
 * straight into the lab's namespaces.
 *
 * Also: a CommandRunner that runs everything inside a namespace, and a worker
 * (a node process inside a namespace) for the probes that must use node
 * sockets there. Every process started here is kept by pid and ended by pid.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createCommandRunner, type CommandRunner } from "../../../shared/exec/runner.js";

export const IP = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].find((p) => existsSync(p)) ?? "ip";
export const ARPING = ["/usr/bin/arping", "/usr/sbin/arping"].find((p) => existsSync(p)) ?? "arping";
export const tools = { ip: IP, arping: ARPING };

export const NS = { sw: "kvA-sw", h1: "kvA-h1", h2: "kvA-h2", h3: "kvA-h3" } as const;
/** Each host's LAN interface (a veth whose peer sits on the bridge in kvA-sw). */
export const IF = { h1: "kvA-h1-l", h2: "kvA-h2-l", h3: "kvA-h3-l" } as const;
export const ADDR = { h1: "198.18.0.11", h2: "198.18.0.12", h3: "198.18.0.13", vip: "198.18.0.100" } as const;
type Host = keyof typeof IF;

const base = createCommandRunner();

/** Fails clearly when not root: CI runs as root, and skipping would hide a broken test. */
export function requireRoot(): void {
  assert.equal(process.getuid?.(), 0, "integration tests need root (network namespaces, ip, arping): run as root");
}

/** Runs a command, failing the test with its stderr when it fails. */
export async function sh(argv: string[]): Promise<string> {
  const r = await base.run(argv, { timeoutMs: 10_000 });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} exited ${r.exitCode}: ${r.stderr || r.spawnError}`);
  return r.stdout;
}

/** A runner whose every program runs inside `ns` (`ip netns exec` execs, so pids stay the program's own). */
export function nsRunner(ns: string): CommandRunner {
  const wrap = (argv: string[]): string[] => [IP, "netns", "exec", ns, ...argv];
  return {
    run: (argv, options) => base.run(wrap(argv), options).then((r) => ({ ...r, argv })),
    start: (argv, options) => base.start(wrap(argv), options),
  };
}

/** Removes the lab's namespaces (only these names); missing ones are fine. */
export async function destroyLab(): Promise<void> {
  for (const ns of Object.values(NS)) await base.run([IP, "netns", "del", ns], { timeoutMs: 10_000 });
}

/** Builds the lab from scratch (removing leftovers of a crashed run first). */
export async function createLab(): Promise<void> {
  requireRoot();
  await destroyLab();
  for (const ns of Object.values(NS)) await sh([IP, "netns", "add", ns]);
  await sh([IP, "-n", NS.sw, "link", "add", "kvA-br", "type", "bridge"]);
  await sh([IP, "-n", NS.sw, "link", "set", "kvA-br", "up"]);
  for (const h of ["h1", "h2", "h3"] as const) {
    const ns = NS[h];
    await sh([IP, "link", "add", IF[h], "netns", ns, "type", "veth", "peer", "name", peer(h), "netns", NS.sw]);
    await sh([IP, "-n", NS.sw, "link", "set", peer(h), "master", "kvA-br", "up"]);
    await sh([IP, "-n", ns, "link", "set", "lo", "up"]);
    await sh([IP, "-n", ns, "addr", "add", `${ADDR[h]}/24`, "dev", IF[h]]);
    await sh([IP, "-n", ns, "link", "set", IF[h], "up"]);
    // A neighbour records a gratuitous ARP only with arp_accept=1.
    await sh([IP, "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.all.arp_accept=1", `net.ipv4.conf.${IF[h]}.arp_accept=1`]);
  }
}

/** The bridge-side end of a host's veth (in kvA-sw): setting it down is pulling the cable. */
export function peer(h: Host): string {
  return `${IF[h]}`.replace(/-l$/, "-p");
}

/** A host's MAC on its LAN interface. */
export async function macOf(h: Host): Promise<string> {
  const out = JSON.parse(await sh([IP, "-n", NS[h], "-json", "link", "show", "dev", IF[h]])) as Array<{ address: string }>;
  return out[0].address.toLowerCase();
}

/** The MAC `ns`'s neighbour table has for `address`, if any (any state but FAILED/INCOMPLETE). */
export async function neighbourMac(h: Host, address: string): Promise<string | undefined> {
  const out = JSON.parse(await sh([IP, "-n", NS[h], "-json", "neigh", "show", "to", address, "dev", IF[h]])) as Array<{ lladdr?: string }>;
  return out[0]?.lladdr?.toLowerCase();
}

/** Whether address/prefix is on a host's LAN interface now. */
export async function hasAddress(h: Host, cidr: string): Promise<boolean> {
  const out = JSON.parse(await sh([IP, "-n", NS[h], "-json", "addr", "show", "dev", IF[h]])) as Array<{
    addr_info: Array<{ local: string; prefixlen: number }>;
  }>;
  return out[0].addr_info.some((a) => `${a.local}/${a.prefixlen}` === cidr);
}

const WORKER = fileURLToPath(new URL("./netns-kvA-worker.ts", import.meta.url));

/**
 * A node process inside a namespace, driven by JSON lines (see
 * netns-kvA-worker.ts): `call(op, args)` resolves with the worker's answer,
 * `events` collects what it reports on its own (reach changes).
 */
export class NsWorker {
  readonly events: Array<Record<string, unknown>> = [];
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, (reply: Record<string, unknown>) => void>();
  private nextId = 1;
  private stderr = "";

  constructor(readonly ns: string) {
    this.child = spawn(IP, ["netns", "exec", ns, process.execPath, "--import", "tsx", WORKER], { stdio: ["pipe", "pipe", "pipe"] });
    let buffered = "";
    this.child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      let i: number;
      while ((i = buffered.indexOf("\n")) >= 0) {
        const msg = JSON.parse(buffered.slice(0, i)) as Record<string, unknown>;
        buffered = buffered.slice(i + 1);
        if (typeof msg.id === "number") this.pending.get(msg.id)?.(msg);
        else this.events.push(msg);
      }
    });
    this.child.stderr!.setEncoding("utf8").on("data", (c: string) => (this.stderr += c));
  }

  /** The worker's pid (ip netns exec execs node, so it is node's). */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  async call<T = unknown>(op: string, args: Record<string, unknown> = {}, timeoutMs = 15_000): Promise<T> {
    const id = this.nextId++;
    const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`worker in ${this.ns}: ${op} got no answer in ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
      this.pending.set(id, (m) => {
        clearTimeout(t);
        resolve(m);
      });
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
    this.pending.delete(id);
    if (typeof reply.error === "string") throw new Error(`worker in ${this.ns}: ${op}: ${reply.error}`);
    return reply.result as T;
  }

  /** Ends the worker (by its pid) and waits for it. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    await gone;
  }
}
