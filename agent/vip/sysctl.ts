/**
 * The kernel settings the VIP code changes (IPv6 announcements need
 * net.ipv6.conf.IF.ndisc_notify=1) behind a small port: the agent reads and
 * writes /proc/sys itself; a test that runs the controller in a network
 * namespace goes through `sysctl` run there (runnerSysctl), since /proc/sys/net
 * is the namespace's of the process that opens it.
 */
import { readFile, writeFile } from "node:fs/promises";
import type { CommandRunner } from "../../shared/exec/runner.js";

/** Keys are relative to /proc/sys with slashes ("net/ipv6/conf/eth0.100/ndisc_notify"): interface names may contain dots. */
export interface SysctlPort {
  read(key: string): Promise<{ value: string } | { error: string }>;
  write(key: string, value: string): Promise<{ error?: string }>;
}

/** The agent's own: /proc/sys/KEY, read and written directly. */
export const procSysctl: SysctlPort = {
  async read(key) {
    try {
      return { value: (await readFile(`/proc/sys/${key}`, "utf8")).trim() };
    } catch (err) {
      return { error: (err as NodeJS.ErrnoException).code ?? String(err) };
    }
  },
  async write(key, value) {
    try {
      await writeFile(`/proc/sys/${key}`, `${value}\n`);
      return {};
    } catch (err) {
      return { error: (err as NodeJS.ErrnoException).code ?? String(err) };
    }
  },
};

/** `sysctl -n KEY` / `sysctl -q -w KEY=VALUE` through a runner (procps' sysctl takes the slash form as it is). */
export function runnerSysctl(runner: CommandRunner, sysctl = "/usr/sbin/sysctl"): SysctlPort {
  const why = (r: { exitCode: number; stderr: string; spawnError: string }) => `${sysctl} exited ${r.exitCode}: ${(r.stderr || r.spawnError).trim()}`;
  return {
    async read(key) {
      const r = await runner.run([sysctl, "-n", key], { timeoutMs: 2000 });
      return r.exitCode === 0 ? { value: r.stdout.trim() } : { error: why(r) };
    },
    async write(key, value) {
      const r = await runner.run([sysctl, "-q", "-w", `${key}=${value}`], { timeoutMs: 2000 });
      return r.exitCode === 0 ? {} : { error: why(r) };
    },
  };
}
