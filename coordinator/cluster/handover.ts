/**
 * When a stopping agent may go: everything it held when it said it was
 * leaving is handed over, or kept because nobody else can take it. Pure: the
 * engine tells the agent (leaveReady) when this returns a verdict.
 */
import type { UnitRuntime } from "../election/planner.js";
import type { Unit } from "./units.js";

/** A node that said it is leaving: the groups it held then. */
export interface Leave {
  groups: readonly string[];
}

/** The answer a stopping agent waits for. */
export interface LeaveReady {
  handedOver: string[];
  kept: string[];
  detail: string;
}

export interface HandoverInput {
  node: string;
  leave: Leave;
  /** The groups the node holds now (its latest report or ack). */
  holds: readonly string[];
  units: readonly Unit[];
  runtimes: ReadonlyMap<string, UnitRuntime>;
}

/**
 * The handover verdict, or undefined while a unit the node holds is still
 * moving. A unit counts as kept only when the election ran after the leave and
 * found nobody else (steady, still on the node, rule "no-eligible").
 */
export function handoverVerdict(input: HandoverInput): LeaveReady | undefined {
  const { node, leave, holds, units, runtimes } = input;
  const kept: string[] = [];
  for (const u of units) {
    if (!u.groups.some((g) => holds.includes(g))) continue;
    const rt = runtimes.get(u.name);
    if (rt?.phase.kind === "steady" && rt.holder === node && rt.last?.rule === "no-eligible") kept.push(...u.groups);
    else return undefined;
  }
  const handedOver = leave.groups.filter((g) => !kept.includes(g));
  return { handedOver, kept, detail: kept.length > 0 ? `no other eligible member for ${kept.join(", ")}` : "handover complete" };
}
