import type { FieldError } from "./generated/FieldError";

/** An error from the engine or the transport: `{code, message, field?}` (README "The server"). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | null;
  readonly errors: FieldError[];

  constructor(
    status: number,
    code: string,
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
    const code = typeof b.code === "string" ? b.code : `http_${status}`;
    const message = typeof b.message === "string" ? b.message : `HTTP ${status}`;
    const field = typeof b.field === "string" ? b.field : null;
    const errors = Array.isArray(b.errors) ? (b.errors as FieldError[]) : [];
    return new ApiError(status, code, message, field, errors);
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
