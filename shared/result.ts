/**
 * The one error convention: an operation that can fail for a reason the
 * caller must handle returns a `Result`; the failure is a `KeepvipError` with
 * a code that says what kind of failure it is, and a message for people.
 * Codes are mapped to transport statuses only at the API edge
 * (coordinator/grpc/status.ts); anything thrown that is not a KeepvipError is
 * a bug, and the edge reports it as internal.
 */

/** What kind of failure, independent of any transport. */
export type ErrorCode =
  /** The named thing (group, node, upstream, server) does not exist. */
  | "not-found"
  /** The request itself is malformed or out of range. */
  | "invalid-argument"
  /** The request is valid, but the system is not in a state that allows it. */
  | "failed-precondition"
  /** Busy or unreachable right now; the same request may succeed later. */
  | "unavailable"
  /** It did not complete in the time it was given. */
  | "deadline-exceeded"
  /** The caller exceeded a limit (rate, streams). */
  | "resource-exhausted"
  /** The caller is known but not allowed to do this. */
  | "permission-denied"
  /** The caller could not be identified. */
  | "unauthenticated"
  /** A bug or a failure the code did not expect. */
  | "internal";

export class KeepvipError extends Error {
  override readonly name = "KeepvipError";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type Result<T, E = KeepvipError> = { ok: true; value: T } | { ok: false; error: E };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

/** A failure with its code and message. */
export function fail(code: ErrorCode, message: string): { ok: false; error: KeepvipError } {
  return { ok: false, error: new KeepvipError(code, message) };
}

/** The value, or throws the error (for callers where a failure is exceptional). */
export function unwrap<T>(r: Result<T>): T {
  if (!r.ok) throw r.error;
  return r.value;
}
