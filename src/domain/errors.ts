// The error catalogue: stable codes, their HTTP status, and one error class for expected failures.
// Callers branch on `code`; the API and CLI edges translate these once. Pure: no I/O.

export const ERROR_CATALOGUE = {
  BAD_REQUEST: 400,
  INVALID_CONFIG: 400,
  INVALID_BUNDLE: 400,
  VALIDATION_ERROR: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  DEPLOYMENT_NOT_FOUND: 404,
  ENVIRONMENT_NOT_FOUND: 404,
  BUNDLE_NOT_FOUND: 404,
  REPLICA_NOT_FOUND: 404,
  DEPLOYMENT_INACTIVE: 404,
  /** A deactivated environment's URL (its deployment keeps its settings). */
  ENVIRONMENT_INACTIVE: 404,
  NO_DEPLOYMENT: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PATCH_CONFLICT: 409,
  PATCH_FAILED: 422,
  NEEDS_PUSH: 422,
  BUNDLE_HASH_MISMATCH: 422,
  PAYLOAD_TOO_LARGE: 413,
  /** A plain request to …/websocket, which takes only a WebSocket upgrade. */
  UPGRADE_REQUIRED: 426,
  DEPLOYMENT_FAILED: 503,
  QUEUE_FULL: 429,
  REPLICA_UNAVAILABLE: 503,
  STORE_UNAVAILABLE: 503,
  CLUSTER_UNAVAILABLE: 503,
  /** A gateway worker (`--gateway-workers`) could not pass an API request to its primary process. */
  PRIMARY_UNAVAILABLE: 503,
  /** The server's disk is full: nothing was stored; try again once there is room. */
  INSUFFICIENT_STORAGE: 507,
  GATEWAY_TIMEOUT: 504,
  /** A parked request whose client went away (never sent: nobody is there to read it). */
  CLIENT_GONE: 499,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class PlinthError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'PlinthError';
    this.code = code;
    this.httpStatus = ERROR_CATALOGUE[code];
    this.details = details;
  }
}

export function isPlinthError(err: unknown): err is PlinthError {
  return err instanceof PlinthError;
}

export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}
