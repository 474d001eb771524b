import type { ErrorCode } from "./generated/ErrorCode";
import type { FieldError } from "./generated/FieldError";

/** What an [`ApiError`] can say: the engine's [`ErrorCode`] (one contract for HTTP and IPC),
 * `unreachable` (no answer at all) or `http_NNN` (an answer without the JSON error body). */
export type ApiErrorCode = ErrorCode | "unreachable" | `http_${number}`;

/** An error from the engine or the transport: its `ErrorBody` `{code, message, field?, errors?}`
 * (README "Architecture"). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: ApiErrorCode;
  readonly field: string | null;
  readonly errors: FieldError[];
  /** The answer's JSON body, when there was one. */
  body: unknown = null;

  constructor(
    status: number,
    code: ApiErrorCode,
    message: string,
    field: string | null = null,
    errors: FieldError[] = [],
  ) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
    this.errors = errors;
  }

  /** From a JSON error body (any shape; unknown bodies keep the HTTP status as the code). */
  static fromBody(status: number, body: unknown): ApiError {
    const b = (body ?? {}) as Record<string, unknown>;
    const code = typeof b.code === "string" ? (b.code as ErrorCode) : (`http_${status}` as const);
    const message = typeof b.message === "string" ? b.message : `HTTP ${status}`;
    const field = typeof b.field === "string" ? b.field : null;
    const errors = Array.isArray(b.errors) ? (b.errors as FieldError[]) : [];
    const e = new ApiError(status, code, message, field, errors);
    e.body = body;
    return e;
  }
}

/** The transport could not reach the server at all (it is down or restarting). */
export function isUnreachable(e: unknown): boolean {
  return e instanceof ApiError && e.code === "unreachable";
}

/** The configuration lacks what the query needs (no NAS root or Target yet): onboarding. */
export function needsSetup(e: unknown): boolean {
  return (
    e instanceof ApiError &&
    e.code === "config_invalid" &&
    (e.field === "root" || e.field === "target_db" || e.field === null)
  );
}

/** The server wants its access token (a page opened without the printed `?token=` address). */
export function isUnauthorized(e: unknown): boolean {
  return e instanceof ApiError && (e.status === 401 || e.code === "unauthorized");
}

/** The engine refused an administrator's action: `admin_required` (unlock with the PIN) or
 * `admin_pin_not_set` (no PIN yet: set one, or choose to run without, in 설정). */
export function adminNeed(e: unknown): "pin" | "set_pin" | null {
  if (!(e instanceof ApiError)) return null;
  if (e.code === "admin_required") return "pin";
  if (e.code === "admin_pin_not_set") return "set_pin";
  return null;
}
