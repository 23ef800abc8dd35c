/**
 * Notify scripts, as keepalived runs them on a vrrp_instance's transitions:
 * notify_master / notify_backup / notify_fault / notify_stop (argv as
 * configured, no extra arguments), then the generic `notify` with four
 * arguments appended, like keepalived.conf(5):
 *
 *   $(n-3) "INSTANCE" — a keepvip VIP group is a vrrp_instance, so existing
 *                      keepalived notify scripts work unchanged
 *   $(n-2) the group name ("VI_1")
 *   $(n-1) the new state, upper case: MASTER | BACKUP | FAULT | STOP
 *   $(n)   the effective priority
 *
 * A group may have its own scripts (agent config `groups.NAME.notify`, as a
 * keepalived notify script belongs to its vrrp_instance): they run only for
 * that group's transitions, before the node-wide `notify`, which runs for
 * every group. One transition runs, in order: the group's specific script,
 * the group's `any` (the four arguments appended), the node-wide specific
 * script, the node-wide `any`.
 *
 * notify() never blocks or throws: runs are queued per group (so one group's
 * scripts arrive in order, and a slow script delays only its own group), each
 * bounded by notify.timeout, failures logged with event keys. A repeat of a
 * group's last notified state is not a transition and runs nothing.
 */
import type { AgentConfig, GroupNotifyConfig, NotifyConfig } from "../../shared/config/agent.js";
import { silentLogger, type Logger } from "../../shared/log.js";
import type { CommandRunner } from "../../shared/exec/runner.js";
import { runScript } from "../tracks/script-run.js";
import { scriptUserResolver } from "../tracks/script-user.js";
import { SerialQueue } from "../../shared/serial-queue.js";

/** The states keepalived notifies (keepvip: holder = MASTER, member not holding = BACKUP). */
export type NotifyState = "MASTER" | "BACKUP" | "FAULT" | "STOP";

const SPECIFIC: Record<NotifyState, keyof Pick<GroupNotifyConfig, "master" | "backup" | "fault" | "stop">> = {
  MASTER: "master",
  BACKUP: "backup",
  FAULT: "fault",
  STOP: "stop",
};

/** The scripts of one level (a group's own, or the node-wide ones) for one transition. */
function planLevel(cfg: GroupNotifyConfig | undefined, group: string, state: NotifyState, priority: number): string[][] {
  const plan: string[][] = [];
  const specific = cfg?.[SPECIFIC[state]];
  if (specific) plan.push([...specific]);
  if (cfg?.any) plan.push([...cfg.any, "INSTANCE", group, state, String(priority)]);
  return plan;
}

/**
 * Pure: the argv lists to run, in order, for one transition: the group's own
 * scripts (`own`: groups.NAME.notify) first, then the node-wide ones.
 */
export function planNotify(cfg: NotifyConfig, group: string, state: NotifyState, priority: number, own?: GroupNotifyConfig): string[][] {
  return [...planLevel(own, group, state, priority), ...planLevel(cfg, group, state, priority)];
}

/** Each group's own notify scripts (agent config `groups.NAME.notify`), for the Notifier. */
export function groupNotify(groups: AgentConfig["groups"]): Map<string, GroupNotifyConfig> {
  const out = new Map<string, GroupNotifyConfig>();
  for (const [name, g] of Object.entries(groups)) if (g.notify) out.set(name, g.notify);
  return out;
}

export interface NotifierOptions {
  /** agent config `notify` (every group). */
  config: NotifyConfig;
  /** agent config `groups.NAME.notify`: each group's own scripts (groupNotify()). */
  groups?: ReadonlyMap<string, GroupNotifyConfig>;
  runner: CommandRunner;
  /** agent config `script_user`. */
  scriptUser?: string;
  log?: Logger;
}

export class Notifier {
  private cfg: NotifyConfig;
  private groups: ReadonlyMap<string, GroupNotifyConfig>;
  private readonly runner: CommandRunner;
  private readonly log: Logger;
  private readonly credentials: ReturnType<typeof scriptUserResolver>;
  /** Per group: its notifications, one at a time in order (dropped once idle). */
  private readonly queues = new Map<string, SerialQueue>();
  private readonly lastState = new Map<string, NotifyState>();

  constructor(options: NotifierOptions) {
    this.cfg = options.config;
    this.groups = options.groups ?? new Map();
    this.runner = options.runner;
    this.log = options.log ?? silentLogger;
    this.credentials = scriptUserResolver(options.runner, options.scriptUser);
  }

  /** Queues the scripts for `group` entering `state`; returns at once. */
  notify(group: string, state: NotifyState, priority: number): void {
    if (this.lastState.get(group) === state) return;
    this.lastState.set(group, state);
    const plan = planNotify(this.cfg, group, state, priority, this.groups.get(group));
    if (plan.length === 0) return;
    const queue = this.queues.get(group) ?? new SerialQueue();
    this.queues.set(group, queue);
    void queue
      .run(() => this.runPlan(group, state, plan))
      .finally(() => {
        if (queue.pending === 0 && this.queues.get(group) === queue) this.queues.delete(group);
      });
  }

  /**
   * New notify scripts (an agent SIGHUP), node-wide and per group (a group left out
   * has none of its own): the next transition runs them; queued ones run as planned.
   */
  reconfigure(config: NotifyConfig, groups: ReadonlyMap<string, GroupNotifyConfig> = new Map()): void {
    this.cfg = config;
    this.groups = groups;
  }

  /** Resolves when every queued notification has run (agent stop: after notify STOP). */
  async flush(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()].map((q) => q.idle()));
  }

  private async runPlan(group: string, state: NotifyState, plan: string[][]): Promise<void> {
    try {
      const resolved = await this.credentials();
      if (!resolved.ok) {
        this.log.error({ event: "notify.failed", group, state, error: resolved.error.message }, `notify ${group} ${state}: ${resolved.error.message}`);
        return;
      }
      const creds = resolved.value;
      for (const argv of plan) {
        // Wait for the verdict only: a script's lingering children must not hold the group's queue.
        const outcome = await runScript(this.runner, argv, this.cfg.timeout, creds).outcome;
        if (outcome.ok) this.log.info({ event: "notify.run", group, state, argv }, `notify ${group} ${state}: ${argv[0]} ok`);
        else
          this.log.warn(
            { event: "notify.failed", group, state, argv, error: outcome.detail },
            `notify ${group} ${state}: ${argv[0]} failed: ${outcome.detail}`,
          );
      }
    } catch (err) {
      this.log.error({ event: "notify.failed", group, state, err }, `notify ${group} ${state} failed`);
    }
  }
}
