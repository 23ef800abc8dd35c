/**
 * The admin client's connection: one AdminClient with credentials made in one
 * place, deadlines on every unary call, and errors turned into sentences that
 * say what to check (address, certificate) instead of stack traces.
 */
import { readFileSync } from "node:fs";
import { credentials, status as Status, type ServiceError } from "@grpc/grpc-js";
import { AdminClient } from "../shared/gen/keepvip/v1/admin.js";

export interface ConnectOptions {
  coordinator: string;
  ca?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
}

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export function connect(o: ConnectOptions): AdminClient {
  let creds;
  if (o.ca || o.cert || o.key) {
    if (!o.ca || !o.cert || !o.key) throw new CliError("--ca, --cert and --key go together (mutual TLS)", 2);
    const read = (p: string, what: string) => {
      try {
        return readFileSync(p);
      } catch (err) {
        throw new CliError(`cannot read the ${what} ${p}: ${(err as NodeJS.ErrnoException).code}`, 2);
      }
    };
    creds = credentials.createSsl(read(o.ca, "CA certificate"), read(o.key, "key"), read(o.cert, "certificate"));
  } else if (o.insecure) {
    creds = credentials.createInsecure();
  } else {
    throw new CliError("no credentials: pass --ca, --cert and --key (mutual TLS), or --insecure for a coordinator that runs without TLS", 2);
  }
  return new AdminClient(o.coordinator, creds);
}

/** Awaits a unary call made with `cb`; turns a gRPC error into a CliError that says what to check. */
export function unary<Res>(target: string, invoke: (cb: (err: ServiceError | null, res?: Res) => void) => void): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke((err, res) => (err ? reject(explain(err, target)) : resolve(res as Res)));
  });
}

export function explain(err: ServiceError, target: string): CliError {
  switch (err.code) {
    case Status.UNAVAILABLE:
      return new CliError(
        `cannot reach the coordinator at ${target}: check the address (--coordinator or KEEPVIP_COORDINATOR), that keepvip-coordinator runs there, and TLS settings (${err.details})`,
        3,
      );
    case Status.DEADLINE_EXCEEDED:
      return new CliError(`no answer from the coordinator at ${target} in time: ${err.details}`, 3);
    case Status.UNAUTHENTICATED:
    case Status.PERMISSION_DENIED:
      return new CliError(`the coordinator refused these credentials: ${err.details} (check --cert/--key and that the certificate has the admin role)`, 4);
    default:
      return new CliError(err.details || err.message, 1);
  }
}
