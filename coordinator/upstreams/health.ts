/**
 * Aggregated backend health: every agent probes every server from its own
 * vantage point; a server is down when more than `down_share` of the agents
 * reporting on it see it fail (default: a majority). Pure.
 */

export interface AgentObservation {
  node: string;
  /** After the agent's rise/fall. */
  up: boolean;
  detail: string;
}

export interface ServerHealth {
  up: boolean;
  /** How many reporting agents see it failing, of how many. */
  failing: number;
  reporting: number;
  /** Words for status and events. */
  reason: string;
}

/**
 * `observations` are the fresh ones only (the caller drops agents without a
 * live session). With no observation at all a server counts as up: nginx's own
 * passive checks still guard it, and marking every server down because the
 * probes are not running yet would take the service down.
 */
export function aggregateHealth(observations: AgentObservation[], downShare: number): ServerHealth {
  const reporting = observations.length;
  const failing = observations.filter((o) => !o.up).length;
  if (reporting === 0) return { up: true, failing: 0, reporting: 0, reason: "no agent reports on it yet" };
  const down = failing > reporting * downShare;
  const who = observations
    .filter((o) => !o.up)
    .map((o) => `${o.node}: ${o.detail || "failing"}`)
    .join("; ");
  return {
    up: !down,
    failing,
    reporting,
    reason: down
      ? `${failing} of ${reporting} agents see it fail (${who})`
      : failing > 0
        ? `${failing} of ${reporting} agents see it fail, not more than ${Math.round(downShare * 100)}% (${who})`
        : `all ${reporting} agents see it up`,
  };
}
