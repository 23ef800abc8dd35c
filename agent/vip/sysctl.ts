/**
 * The kernel settings the VIP code reads (an IPv6 announcement's router flag
 * follows net.ipv6.conf.IF.forwarding) behind a small port: the agent reads
 * /proc/sys itself; a test that runs the controller in a network namespace
 * goes through `sysctl` run there (runnerSysctl), since /proc/sys/net is the
 * namespace's of the process that opens it.
 */
import { readFile } from "node:fs/promises";
import type { CommandRunner } from "../../shared/exec/runner.js";

/** Keys are relative to /proc/sys with slashes ("net/ipv6/conf/eth0.100/forwarding"): interface names may contain dots. */
export interface SysctlPort {
  read(key: string): Promise<{ value: string } | { error: string }>;
}

/** The agent's own: /proc/sys/KEY, read directly. */
export const procSysctl: SysctlPort = {
  async read(key) {
    try {
      return { value: (await readFile(`/proc/sys/${key}`, "utf8")).trim() };
    } catch (err) {
      return { error: (err as NodeJS.ErrnoException).code ?? String(err) };
    }
  },
};

/** `sysctl -n KEY` through a runner (procps' sysctl takes the slash form as it is). */
export function runnerSysctl(runner: CommandRunner, sysctl = "/usr/sbin/sysctl"): SysctlPort {
  return {
    async read(key) {
      const r = await runner.run([sysctl, "-n", key], { timeoutMs: 2000 });
      return r.exitCode === 0 ? { value: r.stdout.trim() } : { error: `${sysctl} exited ${r.exitCode}: ${(r.stderr || r.spawnError).trim()}` };
    },
  };
}
