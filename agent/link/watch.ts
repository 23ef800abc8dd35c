/**
 * Interface link state, for track interfaces and to notice "my LAN link went
 * down" within tens of ms (F3 targets ≤150 ms end to end). `ip monitor link`
 * prints a line per change as the kernel sends it; each line is parsed on
 * the spot (no extra process on the fast path). A slow `ip -json link show`
 * resync and a restart of a monitor that died keep the picture honest.
 * /sys/class/net is not read: it shows the sysfs mounted for the *agent's*
 * namespace, while `ip` can be pointed anywhere (tests run it in netns).
 */
import type { CommandRunner, RunningProcess } from "../../shared/exec/runner.js";

/** One interface's state. */
export interface LinkState {
  interface: string;
  /** Administratively up and carrier present (operstate UP, or UNKNOWN with LOWER_UP). */
  up: boolean;
  /** "operstate DOWN, flags NO-CARRIER,BROADCAST,..." or "absent". */
  detail: string;
}

/** Whether a link counts as up, from its flags and operstate (pure). */
export function isLinkUp(flags: string[], operstate: string | undefined): boolean {
  if (operstate === "UP") return true;
  // Loopback, dummy and tun devices report UNKNOWN: trust the flags then.
  if (operstate === undefined || operstate === "UNKNOWN") return flags.includes("UP") && flags.includes("LOWER_UP") && !flags.includes("NO-CARRIER");
  return false;
}

/** Parses `ip -json link show`: state per interface name. */
export function parseLinks(json: string): Map<string, LinkState> | string {
  let data: unknown;
  try {
    data = JSON.parse(json.trim() === "" ? "[]" : json);
  } catch (err) {
    return `ip -json link printed invalid JSON: ${(err as Error).message}`;
  }
  if (!Array.isArray(data)) return "ip -json link did not print a JSON array";
  const out = new Map<string, LinkState>();
  for (const l of data as Array<Record<string, unknown>>) {
    if (typeof l?.ifname !== "string") continue;
    const flags = Array.isArray(l.flags) ? l.flags.filter((f): f is string => typeof f === "string") : [];
    const operstate = typeof l.operstate === "string" ? l.operstate : undefined;
    out.set(l.ifname, { interface: l.ifname, up: isLinkUp(flags, operstate), detail: `operstate ${operstate ?? "?"}, flags ${flags.join(",")}` });
  }
  return out;
}

/**
 * Parses one `ip monitor link` line ("2: eth0@if3: <BROADCAST,UP,LOWER_UP> mtu
 * 1500 ... state UP ...", "Deleted 2: eth0: ..."); undefined for continuation
 * lines ("    link/ether ...") and anything else.
 */
export function parseMonitorLinkLine(line: string): LinkState | undefined {
  const m = /^(Deleted )?\d+: ([^:@\s]+)(?:@\S+)?: <([^>]*)>(.*)$/.exec(line);
  if (!m) return undefined;
  const [, deleted, name, flagText, rest] = m;
  if (deleted) return { interface: name, up: false, detail: "absent (deleted)" };
  const flags = flagText.split(",").filter(Boolean);
  const operstate = /\bstate (\S+)/.exec(rest)?.[1];
  return { interface: name, up: isLinkUp(flags, operstate), detail: `operstate ${operstate ?? "?"}, flags ${flags.join(",")}` };
}

export interface LinkWatchOptions {
  runner: CommandRunner;
  /** Path of `ip`. */
  ip: string;
  /** Interfaces to report; all when absent. */
  interfaces?: string[];
  /** Called at the first read of each interface and whenever its `up` flips (not for every monitor line). */
  onChange: (state: LinkState, atMs: number) => void;
  /** Full re-read this often (ms, 0 = never). Default 5000. */
  resyncMs?: number;
}

export class LinkWatcher {
  private readonly states = new Map<string, LinkState>();
  private monitor: RunningProcess | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: LinkWatchOptions) {}

  /** Starts the monitor, then reads every link once, so no change falls between the two. */
  async start(): Promise<void> {
    this.startMonitor();
    await this.resync();
    const every = this.opts.resyncMs ?? 5000;
    if (every > 0) this.resyncTimer = setInterval(() => void this.resync(), every);
  }

  /** Whether the interface is up now; undefined before the first read. */
  current(iface: string): boolean | undefined {
    return this.states.get(iface)?.up;
  }

  /** Stops the monitor process (the only one this starts) and timers. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.resyncTimer);
    clearTimeout(this.restartTimer);
    this.monitor?.kill("SIGTERM");
    await this.monitor?.exited;
  }

  /** Re-reads every link (`ip -json link show`); interfaces that vanished count as down. */
  async resync(): Promise<void> {
    const r = await this.opts.runner.run([this.opts.ip, "-json", "link", "show"], { timeoutMs: 2000 });
    if (this.closed || r.exitCode !== 0) return;
    const links = parseLinks(r.stdout);
    if (typeof links === "string") return;
    const names = this.opts.interfaces ?? [...links.keys()];
    for (const name of names) this.observe(links.get(name) ?? { interface: name, up: false, detail: "absent" });
  }

  private observe(s: LinkState): void {
    if (this.opts.interfaces && !this.opts.interfaces.includes(s.interface)) return;
    const before = this.states.get(s.interface);
    this.states.set(s.interface, s);
    if (before === undefined || before.up !== s.up) this.opts.onChange(s, Date.now());
  }

  private startMonitor(): void {
    if (this.closed) return;
    const proc = this.opts.runner.start([this.opts.ip, "monitor", "link"], {
      onStdoutLine: (line) => {
        const s = parseMonitorLinkLine(line);
        if (s && !this.closed) this.observe(s);
      },
    });
    this.monitor = proc;
    void proc.exited.then(() => {
      if (this.closed) return;
      this.restartTimer = setTimeout(() => {
        this.startMonitor();
        void this.resync();
      }, 500);
    });
  }
}
