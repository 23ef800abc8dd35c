/**
 * AdminService: what the `keepvip` CLI calls. Handlers validate their fields
 * (unknown group, unknown node, not eligible, would leave no holder) and fail
 * with a KeepvipError; its code becomes a gRPC status in one place (status.ts),
 * an unexpected error is INTERNAL. Decisions stay in the engine and the planner.
 */
import { status as Status, type ServerWritableStream, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { AdminServer, Event, WatchEventsRequest } from "../../shared/gen/keepvip/v1/admin.js";
import { agentConfigSchema } from "../../shared/config/agent.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { ConfigError, parseConfigText } from "../../shared/config/load.js";
import type { Engine } from "../cluster/engine.js";
import type { PeerCertificate } from "node:tls";
import { describeIdentity, identityOf } from "../../shared/identity.js";
import { ADMIN_MUTATIONS, MAX_WATCHERS_PER_IDENTITY, RateLimiter } from "./limits.js";
import { grpcStatusOf } from "./status.js";
import { drillHandler } from "./drill.js";
import { KeepvipError } from "../../shared/result.js";

const watchers = new Map<string, number>();

/** The rate-limit key of a caller: its identity with TLS, its address without. */
function callerKey(engine: Engine, call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate }; getPeer(): string }): string {
  const id = engine.config.tls ? identityOf(call.getAuthContext().sslPeerCertificate) : undefined;
  return id?.ok ? `${id.value.role}:${id.value.name}` : call.getPeer().replace(/:\d+$/, "");
}
import { currentStatus, electionOf, whyReply } from "../cluster/status.js";
import { eventRecord } from "../cluster/events.js";
import { unitOfGroup } from "../cluster/units.js";

type Access = "read" | "write";

/**
 * Who may call: with TLS, an admin certificate for everything, a reader
 * certificate for reads only, an agent certificate for nothing here. Returns
 * the caller in words for the event history.
 */
function authorize(
  engine: Engine,
  call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate }; getPeer(): string },
  access: Access,
  rpc: string,
): string {
  if (!engine.config.tls) return describeIdentity(undefined, call.getPeer());
  const who = identityOf(call.getAuthContext().sslPeerCertificate);
  if (!who.ok) throw new KeepvipError(who.error.code, `${rpc} refused: ${who.error.message}`);
  const id = who.value;
  if (id.role === "agent") throw new KeepvipError("permission-denied", `${rpc} refused: agent certificates (${id.name}) cannot call the admin API`);
  if (id.role === "reader" && access === "write") throw new KeepvipError("permission-denied", `${rpc} refused: ${id.name} has a read-only certificate`);
  return describeIdentity(id, call.getPeer());
}

const mutations = new RateLimiter(ADMIN_MUTATIONS.burst, ADMIN_MUTATIONS.perSecond);

function unary<Req, Res>(
  engine: Engine,
  log: Logger,
  name: string,
  access: Access,
  fn: (req: Req, call: ServerUnaryCall<Req, Res>, who: string) => Promise<Res> | Res,
) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    Promise.resolve()
      .then(() => {
        const who = authorize(engine, call, access, name);
        if (access === "write") {
          const waitMs = mutations.take(callerKey(engine, call), engine.now());
          if (waitMs > 0)
            throw new KeepvipError("resource-exhausted", `${name} refused: too many changes from ${who}; try again in ${Math.ceil(waitMs / 1000)} s`);
        }
        return fn(call.request, call, who);
      })
      .then((res) => callback(null, res))
      .catch((err: unknown) => {
        const { code, details } = grpcStatusOf(err);
        if (code === Status.INTERNAL) log.error({ event: "admin.error", rpc: name, err }, "admin call failed");
        if (code === Status.PERMISSION_DENIED || code === Status.UNAUTHENTICATED)
          log.warn({ event: "admin.refused", rpc: name, peer: call.getPeer(), reason: details }, details);
        callback({ code, details });
      });
  };
}

export function adminService(engine: Engine, log: Logger): AdminServer {
  const unitFor = (group: string) => {
    const unit = unitOfGroup(engine.units, group);
    if (!unit) throw new KeepvipError("not-found", `unknown group "${group}" (groups: ${engine.config.groups.map((g) => g.name).join(", ")})`);
    return unit;
  };
  const knownNode = (node: string) => {
    if (!engine.nodes.knows(node)) throw new KeepvipError("not-found", `unknown node "${node}" (nodes: ${[...engine.nodes.views.keys()].join(", ")})`);
  };
  const moveBudgetMs = () => engine.config.timing.ack_timeout * 2 + engine.config.timing.planned_overlap + engine.config.timing.verify_timeout;

  return {
    getStatus: unary(engine, log, "GetStatus", "read", () => currentStatus(engine)),
    why: unary(engine, log, "Why", "read", (req) => whyReply(engine.statusInput(), unitFor(req.group), req.group)),
    switchover: unary(engine, log, "Switchover", "write", async (req, _call, who) => {
      const unit = unitFor(req.group);
      if (!unit.members.some((m) => m.node === req.toNode))
        throw new KeepvipError(
          "invalid-argument",
          `node "${req.toNode}" is not a member of ${req.group} (members: ${unit.members.map((m) => m.node).join(", ")})`,
        );
      const rt = engine.runtimes.get(unit.name)!;
      if (rt.holder === req.toNode) return { ok: true, message: `${req.toNode} already holds ${req.group} (epoch ${rt.epoch})` };
      if (rt.phase.kind !== "steady") throw new KeepvipError("unavailable", `${req.group} is busy (${rt.phase.kind}); try again`);
      const e = electionOf(engine.statusInput(), unit);
      const target = e.ranking.find((c) => c.node === req.toNode)!;
      if (!target.eligibility.eligible) throw new KeepvipError("failed-precondition", `${req.toNode} is not eligible: ${target.eligibility.detail}`);
      const from = rt.holder;
      const started = engine.now();
      engine.events.add({ kind: "admin", group: req.group, node: req.toNode, message: `switchover of ${req.group} to ${req.toNode} requested by ${who}` });
      engine.requestSwitchover(unit.name, req.toNode);
      const ok = await engine.waitFor(() => engine.runtimes.get(unit.name)!.holder === req.toNode, moveBudgetMs());
      const took = engine.now() - started;
      engine.events.add({
        kind: "admin",
        group: req.group,
        node: req.toNode,
        message: `switchover of ${req.group} to ${req.toNode}: ${ok ? `done in ${took} ms` : "did not complete"}`,
      });
      if (!ok)
        throw new KeepvipError(
          "deadline-exceeded",
          `switchover of ${req.group} to ${req.toNode} did not complete within ${moveBudgetMs()} ms (see keepvip events)`,
        );
      return {
        ok: true,
        message: `${req.group} moved from ${from ?? "nobody"} to ${req.toNode} (epoch ${engine.runtimes.get(unit.name)!.epoch}) in ${took} ms`,
      };
    }),
    setMaintenance: unary(engine, log, "SetMaintenance", "write", async (req, _call, who) => {
      knownNode(req.nodeId);
      if (req.on) {
        for (const unit of engine.units) {
          const rt = engine.runtimes.get(unit.name)!;
          if (rt.holder !== req.nodeId) continue;
          const e = electionOf(engine.statusInput(), unit);
          if (!e.ranking.some((c) => c.node !== req.nodeId && c.eligibility.eligible)) {
            throw new KeepvipError("failed-precondition", `maintenance on ${req.nodeId} would leave no holder for ${unit.name}: no other member is eligible`);
          }
        }
      }
      engine.events.add({ kind: "admin", node: req.nodeId, message: `maintenance ${req.on ? "on" : "off"} for ${req.nodeId} requested by ${who}` });
      await engine.setMaintenance(req.nodeId, req.on);
      if (!req.on) return { ok: true, message: `${req.nodeId} is out of maintenance` };
      const drained = await engine.waitFor(() => engine.units.every((u) => engine.runtimes.get(u.name)!.holder !== req.nodeId), moveBudgetMs());
      engine.events.add({
        kind: "admin",
        node: req.nodeId,
        message: `maintenance on for ${req.nodeId}: ${drained ? "its VIPs moved to other members" : "still holding after the move budget"}`,
      });
      if (!drained)
        throw new KeepvipError("deadline-exceeded", `${req.nodeId} is in maintenance but still holds a VIP after ${moveBudgetMs()} ms (see keepvip events)`);
      return { ok: true, message: `${req.nodeId} is in maintenance; its VIPs moved to other members` };
    }),
    setServerState: unary(engine, log, "SetServerState", "write", (req, _call, who) => {
      if (!["drain", "down", "up", "weight"].includes(req.action))
        throw new KeepvipError("invalid-argument", `action must be drain, down, up or weight, got "${req.action}"`);
      if (req.action === "weight" && (req.weight < 1 || req.weight > 1000))
        throw new KeepvipError("invalid-argument", `weight must be 1..1000, got ${req.weight}`);
      const set = engine.upstreams.setOverride(req.upstream, req.server, req.action as "drain" | "down" | "up" | "weight", req.weight);
      if (!set.ok) throw set.error;
      const message = set.value;
      engine.events.add({ kind: "admin", message: `${message} (requested by ${who})` });
      return { ok: true, message };
    }),
    validateConfig: unary(engine, log, "ValidateConfig", "read", (req) => {
      const schema = req.kind === "agent" ? agentConfigSchema : coordinatorConfigSchema;
      try {
        parseConfigText(schema, req.yaml, req.kind === "agent" ? "agent config" : "coordinator config");
        return { ok: true, errors: [] };
      } catch (err) {
        if (err instanceof ConfigError) return { ok: false, errors: err.problems };
        throw err;
      }
    }),
    drill: drillHandler(engine, log, (call, rpc) => {
      const who = authorize(engine, call, "write", rpc);
      const waitMs = mutations.take(callerKey(engine, call), engine.now());
      if (waitMs > 0) throw new KeepvipError("resource-exhausted", `${rpc} refused: too many changes from ${who}; try again in ${Math.ceil(waitMs / 1000)} s`);
      return who;
    }),
    watchEvents(call: ServerWritableStream<WatchEventsRequest, Event>) {
      try {
        authorize(engine, call, "read", "WatchEvents");
      } catch (err) {
        call.emit("error", grpcStatusOf(err));
        return;
      }
      const key = callerKey(engine, call);
      if ((watchers.get(key) ?? 0) >= MAX_WATCHERS_PER_IDENTITY) {
        call.emit("error", grpcStatusOf(new KeepvipError("resource-exhausted", `at most ${MAX_WATCHERS_PER_IDENTITY} event streams per identity`)));
        return;
      }
      const req = call.request;
      if (req.sinceMs > 0) for (const e of engine.events.since(req.sinceMs)) call.write(eventRecord(e));
      if (!req.follow) return void call.end();
      const unsubscribe = engine.events.subscribe((e) => {
        // A watcher that cannot keep up is dropped rather than buffered forever.
        if (!call.write(eventRecord(e)) && call.writableLength > 1_000_000) {
          unsubscribe();
          call.emit("error", grpcStatusOf(new KeepvipError("resource-exhausted", "event watcher too slow")));
        }
      });
      watchers.set(key, (watchers.get(key) ?? 0) + 1);
      let stopped = false;
      const stop = () => {
        if (stopped) return;
        stopped = true;
        unsubscribe();
        watchers.set(key, Math.max(0, (watchers.get(key) ?? 1) - 1));
      };
      call.on("cancelled", stop);
      call.on("close", stop);
      call.on("error", stop);
    },
  };
}
