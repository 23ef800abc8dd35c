/**
 * nginx health as a built-in track named "nginx", from the supervisor's state
 * (no script: the supervisor already knows, within milliseconds).
 *
 * Passing while RUNNING or STARTING; failing while DOWN or STOPPED. STARTING is
 * the immediate restart after a death (F4: tens of ms, bounded by the
 * supervisor's start timeout). Counting it as failing would make a weight-0
 * track FAULT the node and move the VIP on every restartable crash — the move
 * F4 says must not happen. A restart that fails turns DOWN at once, so F5 still
 * releases the VIP promptly.
 */
import type { TrackResult } from "../../shared/gen/keepvip/v1/agent.js";
import type { NginxStatus } from "../nginx/restart-policy.js";

/** The track name nginx health is reported under. */
export const NGINX_TRACK = "nginx";

/** The TrackResult for a supervisor state. */
export function nginxTrackResult(status: Pick<NginxStatus, "state" | "detail">): TrackResult {
  const passing = status.state === "running" || status.state === "starting";
  return { name: NGINX_TRACK, passing, detail: `${status.state}: ${status.detail}`.slice(0, 200) };
}
