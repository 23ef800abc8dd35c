/**
 * The agent sessions the engine talks to: each session and its sink live in
 * one record, so a session can never be found without its sink or outlive it.
 * The records are the node table's sessions (liveness, admission), so there
 * is one map to keep, not two kept in step.
 */
import type { CoordinatorMessage } from "../../shared/gen/keepvip/v1/agent.js";
import type { NodeTable, SessionInfo } from "./nodes.js";

/** Where the engine sends messages for one session (the gRPC stream). */
export interface SessionSink {
  send(message: CoordinatorMessage): void;
  /** Ends the stream from our side. */
  end(reason: string): void;
}

/** A session with the sink that reaches its agent. */
export interface Session extends SessionInfo {
  readonly sink: SessionSink;
  /** The slice of the beat interval this session is beaten in (engine.ts, beat; 0 if unset). */
  readonly beatSlot?: number;
  /**
   * Commands sent on this session and the count of them its agent reports received, when the
   * agent counts (Hello.counts_commands): what tells a command on its way from one unanswered.
   */
  readonly commands?: { sent: number; received: number };
}

export class SessionRegistry {
  constructor(private readonly nodes: NodeTable) {}

  /** Opens a session: the node's view turns live. */
  open(session: Session): void {
    this.nodes.open(session);
  }

  get(sessionId: string): Session | undefined {
    return this.nodes.sessions.get(sessionId) as Session | undefined;
  }

  /** The session currently speaking for a node. */
  of(node: string): Session | undefined {
    return this.nodes.sessionOf(node) as Session | undefined;
  }

  all(): Session[] {
    return [...this.nodes.sessions.values()] as Session[];
  }

  /** How many sessions are open. */
  get size(): number {
    return this.nodes.sessions.size;
  }

  /**
   * Ends a session from our side and forgets it, without closing the node's
   * view (a replacement follows, or the node is gone from the config).
   */
  drop(sessionId: string, reason: string): void {
    const s = this.get(sessionId);
    if (!s) return;
    // Ended first: a sink may report its close back synchronously (engine.closed).
    s.sink.end(reason);
    this.nodes.forget(sessionId);
  }

  /** The agent's stream ended: the node's view turns closed. Returns the node it spoke for, if it still did. */
  closed(sessionId: string): string | undefined {
    return this.nodes.close(sessionId);
  }

  /** Ends and forgets every session (shutdown; the nodes' views stay as they are). */
  endAll(reason: string): void {
    for (const s of this.all()) this.drop(s.id, reason);
  }
}
