/**
 * The API edge of the error convention (shared/result.ts): a KeepvipError's
 * code becomes a gRPC status here and nowhere else. Anything else that was
 * thrown is a bug or an unexpected failure: INTERNAL, never a status that
 * blames the caller's request (NOT_FOUND, INVALID_ARGUMENT).
 */
import { status as Status } from "@grpc/grpc-js";
import { KeepvipError, type ErrorCode } from "../../shared/result.js";

const GRPC_STATUS: Record<ErrorCode, Status> = {
  "not-found": Status.NOT_FOUND,
  "invalid-argument": Status.INVALID_ARGUMENT,
  "failed-precondition": Status.FAILED_PRECONDITION,
  unavailable: Status.UNAVAILABLE,
  "deadline-exceeded": Status.DEADLINE_EXCEEDED,
  "resource-exhausted": Status.RESOURCE_EXHAUSTED,
  "permission-denied": Status.PERMISSION_DENIED,
  unauthenticated: Status.UNAUTHENTICATED,
  internal: Status.INTERNAL,
};

/** The gRPC status and details to answer with for a failure. */
export function grpcStatusOf(err: unknown): { code: Status; details: string } {
  if (err instanceof KeepvipError) return { code: GRPC_STATUS[err.code], details: err.message };
  return { code: Status.INTERNAL, details: err instanceof Error ? err.message : String(err) };
}
