/**
 * The process `npm run bench:scale` runs its simulated agents in (scale-fleet.ts), driven
 * over Node's IPC channel by scale.ts: a process of its own, so its CPU is measured apart
 * from the coordinator's and the benchmark's. Requests and answers are the messages below;
 * every request carries an id its answer echoes.
 */
import { Fleet, type FleetOptions, type SimAgentSpec } from "./scale-fleet.js";

/** What scale.ts asks of a fleet process. */
export type FleetRequest =
  | { id: number; op: "init"; specs: SimAgentSpec[]; options: FleetOptions }
  | { id: number; op: "start" }
  | { id: number; op: "snapshot" }
  | { id: number; op: "reset" }
  | { id: number; op: "takeover"; group: string; timeoutMs: number }
  | { id: number; op: "revive"; group: string }
  | { id: number; op: "stop" };

/** The answer to a request: its id and what it returned. */
export interface FleetAnswer {
  id: number;
  value?: unknown;
  error?: string;
}

let fleet: Fleet | undefined;

async function handle(req: FleetRequest): Promise<unknown> {
  if (req.op === "init") {
    fleet = new Fleet(req.specs, req.options);
    return undefined;
  }
  if (!fleet) throw new Error(`${req.op} before init`);
  switch (req.op) {
    case "start":
      return fleet.start();
    case "snapshot":
      return fleet.snapshot();
    case "reset":
      return fleet.resetCounters();
    case "takeover":
      return fleet.takeover(req.group, req.timeoutMs);
    case "revive":
      return fleet.revive(req.group);
    case "stop":
      fleet.stop();
      setTimeout(() => process.exit(0), 50);
      return undefined;
  }
}

process.on("message", (req: FleetRequest) => {
  handle(req).then(
    (value) => process.send?.({ id: req.id, value } satisfies FleetAnswer),
    (err: unknown) => process.send?.({ id: req.id, error: (err as Error).message } satisfies FleetAnswer),
  );
});
// The benchmark went away: so does its fleet.
process.on("disconnect", () => process.exit(0));
