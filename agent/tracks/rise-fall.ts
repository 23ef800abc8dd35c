/**
 * The rise/fall state machine of a track (keepalived's vrrp_script), pure.
 *
 * Initial state, as keepalived without `init_fail`: the track is unsettled and
 * counts as not passing, and its FIRST result decides at once (one success is
 * enough to pass, one failure to fail), whatever rise and fall say. Waiting for
 * `rise` successes at start would make every node fail its tracks for
 * rise × interval after each agent restart and move VIPs for nothing; the agent
 * core should send its first report once every track has settled (see
 * TrackScripts.ready()). After that:
 *   passing: `fall` consecutive failures → failing (a success resets the count)
 *   failing: `rise` consecutive successes → passing (a failure resets the count)
 */

/** How many consecutive results flip a track; both ≥ 1. */
export interface RiseFall {
  rise: number;
  fall: number;
}

export interface TrackCounter {
  /** After rise/fall: the track counts as passing. */
  passing: boolean;
  /** At least one result has been seen. */
  settled: boolean;
  /** Consecutive results against the current state (toward a flip). */
  streak: number;
}

export const INITIAL_TRACK: TrackCounter = { passing: false, settled: false, streak: 0 };

/** The counter after one result (`ok` = the script exited 0 within its timeout). */
export function advanceTrack(state: TrackCounter, ok: boolean, policy: RiseFall): TrackCounter {
  if (!state.settled) return { passing: ok, settled: true, streak: 0 };
  if (ok === state.passing) return { ...state, streak: 0 };
  const streak = state.streak + 1;
  const needed = ok ? policy.rise : policy.fall;
  return streak >= needed ? { passing: ok, settled: true, streak: 0 } : { ...state, streak };
}

/** Refuses a policy the coordinator should never send (proto uint32 0 = unset). */
export function checkRiseFall(policy: RiseFall): string | undefined {
  for (const key of ["rise", "fall"] as const) {
    const v = policy[key];
    if (!Number.isInteger(v) || v < 1 || v > 100) return `${key} must be an integer 1..100, got ${String(v)}`;
  }
  return undefined;
}
