/**
 * Watches one LB namespace for the VIP, run inside it:
 *   ip netns exec P-lb1 node --import tsx deploy/lab/vip-watch.ts [--address 198.18.0.100[,2001:2::100]]
 *      [--interface lan0] [--interval 10] [--duration 60000]
 * Reads the interface's addresses every `interval` ms (os.networkInterfaces(): one
 * getifaddrs netlink dump, no subprocess, so 100 samples/s cost next to nothing) and prints
 * an NDJSON line {"t":…,"has":bool} first (its initial state: "ready"), then only on change,
 * and {"t":…,"has":bool,"end":true} when it stops (duration over, SIGTERM or SIGINT). With
 * several addresses (comma-separated) every line also names its "address".
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
  const addresses = values.address.split(",").filter((a) => a !== "");
  const named = addresses.length > 1;
  const emit = (address: string, has: boolean, end = false) =>
    process.stdout.write(`${JSON.stringify({ t: Date.now(), has, ...(end ? { end } : {}), ...(named ? { address } : {}) })}\n`);
  const has = new Map(addresses.map((a) => [a, hasAddress(values.interface, a)]));
  for (const a of addresses) emit(a, has.get(a)!);
  const started = Date.now();
  const finish = () => {
    clearInterval(timer);
    for (const a of addresses) emit(a, hasAddress(values.interface, a), true);
    process.exit(0);
  };
  const timer = setInterval(() => {
    for (const a of addresses) {
      const now = hasAddress(values.interface, a);
      if (now !== has.get(a)) {
        has.set(a, now);
        emit(a, now);
      }
    }
    if (Date.now() - started >= duration) finish();
  }, interval);
  process.once("SIGTERM", finish);
  process.once("SIGINT", finish);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
