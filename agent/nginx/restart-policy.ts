/**
 * The nginx supervision states and the restart back-off, kept pure so the
 * policy (docs/design.md, Fault matrix, F4/F5) is table-tested apart from processes and timers.
 *
 * Policy: nginx dies → restart at once (STARTING). That restart works → RUNNING,
 * and DOWN was never reported (F4: no move, blip only). It fails → DOWN at once,
 * so the agent core goes FAULT and releases its VIPs without waiting (F5); further
 * attempts continue in the background after restartDelay(), and a success
 * returns to RUNNING.
 */
import type { NginxState } from "../../shared/gen/keepvip/v1/agent.js";
import { nginxToWire, type NginxStateName } from "../../shared/protocol.js";
import { backoffMs, jitter, type Backoff } from "../../shared/backoff.js";
import type { AgentConfig } from "../../shared/config/agent.js";

/** Supervision state, as reported to the coordinator (proto NginxState). */
export type { NginxStateName };

/** A state with what explains it ("bind() to 0.0.0.0:10016 failed (98: Address already in use)"). */
export interface NginxStatus {
  state: NginxStateName;
  /** Why the state is what it is: the last restart outcome or nginx's own error line. */
  detail: string;
  /** The master pid while running (or adopted), else undefined. */
  pid: number | undefined;
  /** Failed restart attempts since nginx was last running (0 while running). */
  failures: number;
}

/** The proto enum value for a state (for Report.nginx). */
export function toProtoNginxState(state: NginxStateName): NginxState {
  return nginxToWire(state);
}

/** The configured restart back-off: the first background retry's delay (after the immediate restart failed) and the ceiling. */
type RestartBackoff = AgentConfig["nginx"]["restart_backoff"];

/**
 * Delay before background retry number `failures` (1 = after the first failed
 * restart): initial × 2^(failures−1), capped at max, then jittered to 75–125 %
 * (still capped) so two agents on one host, or a fleet after a shared cause,
 * do not retry in lockstep. `random` returns [0, 1).
 */
export function restartDelay(failures: number, backoff: RestartBackoff, random: () => number = Math.random): number {
  const b: Backoff = { initialMs: backoff.initial, maxMs: backoff.max };
  return Math.round(Math.min(b.maxMs, jitter(backoffMs(failures, b), 0.25, random)));
}
