/**
 * Which engine is in charge: a single coordinator has one for its whole life;
 * a replica of replicated coordinators has one only while it leads (a new one
 * per term). The gRPC server routes every call through this.
 */
import type { Engine } from "./engine.js";

export interface EngineRef {
  /** The engine while this coordinator leads (always, for a single one); undefined while it follows. */
  current(): Engine | undefined;
  /** The leader (its name, address and term) while following; undefined when unknown. */
  leader(): { name: string; address: string; term?: number } | undefined;
  /** This replica's name, for messages. */
  readonly name: string;
}

/** A single coordinator: one engine, always leading. */
export function fixedEngine(engine: Engine): EngineRef {
  return { current: () => engine, leader: () => undefined, name: "coordinator" };
}
