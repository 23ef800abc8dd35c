/**
 * Services for tools, beside keepvip's own: the standard gRPC health service
 * (grpc.health.v1.Health: load balancers, `grpc_health_probe`, Kubernetes) and
 * server reflection (grpc.reflection.v1 and v1alpha), so `grpcurl -plaintext
 * HOST:7400 list` and `describe` work without a local copy of the .proto files.
 *
 * Reflection describes services from .proto sources, loaded at run time with
 * proto-loader: the package ships proto/ (package.json "files"), found by
 * walking up from this file, which works from the sources and from dist/.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadSync, type PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import type { Server } from "@grpc/grpc-js";
import { HealthImplementation, protoPath as healthProtoPath } from "grpc-health-check";

/** keepvip's services, as grpcurl names them. */
export const KEEPVIP_SERVICES = ["keepvip.v1.Agent", "keepvip.v1.Admin"] as const;
export const HEALTH_SERVICE = "grpc.health.v1.Health";

const PROTO_FILES = ["keepvip/v1/agent.proto", "keepvip/v1/admin.proto"];

/** The directory holding keepvip/v1/*.proto: proto/ at the package root. */
export function protoRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "proto");
    if (existsSync(join(candidate, PROTO_FILES[0]))) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`cannot find proto/${PROTO_FILES[0]} above ${from}: the package's proto/ directory is needed for gRPC reflection`);
}

/** Descriptors of keepvip's services and the health service, for reflection. */
export function loadDescriptors(root = protoRoot()): PackageDefinition {
  const options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
  return { ...loadSync(PROTO_FILES, { ...options, includeDirs: [root] }), ...loadSync(healthProtoPath, options) };
}

export interface Introspection {
  health: HealthImplementation;
  /** Every service NOT_SERVING (shutdown begins: load balancers stop sending new work). */
  notServing(): void;
}

/** Adds health (every keepvip service and "" SERVING) and reflection to `server`. */
export function addIntrospection(server: Server): Introspection {
  const names = ["", ...KEEPVIP_SERVICES];
  const health = new HealthImplementation(Object.fromEntries(names.map((n) => [n, "SERVING" as const])));
  health.addToServer(server);
  new ReflectionService(loadDescriptors()).addToServer(server);
  return {
    health,
    notServing: () => {
      for (const n of names) health.setStatus(n, "NOT_SERVING");
    },
  };
}
