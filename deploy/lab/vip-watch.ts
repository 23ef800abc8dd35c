/**
 * Watches one LB namespace for the VIP, run inside it:
 *   ip netns exec P-lb1 node --import tsx deploy/lab/vip-watch.ts [--address 198.18.0.100]
 *      [--interface lan0] [--interval 10] [--duration 60000]
 * Reads the interface's addresses every `interval` ms (os.networkInterfaces(): one
 * getifaddrs netlink dump, no subprocess, so 100 samples/s cost next to nothing) and prints
 * an NDJSON line {"t":…,"has":bool} first (its initial state: "ready"), then only on change,
 * and {"t":…,"has":bool,"end":true} when it stops (duration over, SIGTERM or SIGINT).
 *
 * Why a poller and not `ip monitor address`: the monitor is event-driven but gives no sign of
 * when it has subscribed, so its first state cannot be joined to a snapshot without a race;
 * the poller's first line is its state, and 10 ms is the resolution the benchmark asks for.
 */
import { networkInterfaces } from "node:os";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

export const MAX_WATCH_DURATION_MS = 3_600_000;

export function hasAddress(ifname: string, address: string): boolean {
  return (networkInterfaces()[ifname] ?? []).some((a) => a.address === address);
}

function main(): void {
  const { values } = parseArgs({
    options: {
      address: { type: "string", default: "198.18.0.100" },
      interface: { type: "string", default: "lan0" },
      interval: { type: "string", default: "10" },
      duration: { type: "string", default: "60000" },
    },
  });
  const interval = Math.max(1, Number(values.interval) || 10);
  const duration = Math.min(MAX_WATCH_DURATION_MS, Number(values.duration) || 60_000);
  const emit = (has: boolean, end = false) => process.stdout.write(`${JSON.stringify(end ? { t: Date.now(), has, end } : { t: Date.now(), has })}\n`);
  let has = hasAddress(values.interface, values.address);
  emit(has);
  const started = Date.now();
  const finish = () => {
    clearInterval(timer);
    emit(hasAddress(values.interface, values.address), true);
    process.exit(0);
  };
  const timer = setInterval(() => {
    const now = hasAddress(values.interface, values.address);
    if (now !== has) {
      has = now;
      emit(has);
    }
    if (Date.now() - started >= duration) finish();
  }, interval);
  process.once("SIGTERM", finish);
  process.once("SIGINT", finish);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
