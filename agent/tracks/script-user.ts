/**
 * `script_user`: track and notify scripts run as this user (keepalived's
 * global script_user), never as root by accident. The uid/gid come from
 * `id -u USER` / `id -g USER` through the runner (NSS-aware: LDAP users too),
 * once; a failed lookup is retried on the next use.
 */
import type { CommandRunner } from "../../shared/exec/runner.js";
import { fail, ok, type Result } from "../../shared/result.js";

export interface Credentials {
  uid: number;
  gid: number;
}

/**
 * Returns a function giving the credentials to run scripts with: {} when no
 * user is configured (the agent's own), the uid/gid, or why they cannot be
 * resolved (failed-precondition).
 */
export function scriptUserResolver(runner: CommandRunner, user: string | undefined): () => Promise<Result<Partial<Credentials>>> {
  if (user === undefined) return async () => ok({});
  let cached: Credentials | undefined;
  return async () => {
    if (cached) return ok(cached);
    const [u, g] = await Promise.all([runner.run(["id", "-u", user], { timeoutMs: 5000 }), runner.run(["id", "-g", user], { timeoutMs: 5000 })]);
    const uid = Number(u.stdout.trim());
    const gid = Number(g.stdout.trim());
    if (u.exitCode !== 0 || g.exitCode !== 0 || !Number.isInteger(uid) || !Number.isInteger(gid) || u.stdout.trim() === "" || g.stdout.trim() === "") {
      return fail("failed-precondition", `script_user "${user}": cannot resolve uid/gid (${(u.stderr || g.stderr || u.spawnError || "id failed").trim()})`);
    }
    cached = { uid, gid };
    return ok(cached);
  };
}
