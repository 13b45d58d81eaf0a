// The body POSTed to an async request's webhook once it reaches a final state: `{request_id,
// model_id, deployment_id, type: "async_request_completed", time, data: {output}}` on success, or
// `errors: [{code, message}]` on failure, expiry or cancellation. Pure: the time is passed in; the
// text returned is the exact body that is signed and sent.
import type { AsyncError, AsyncRequest } from '../domain/async-requests.ts';

export const WEBHOOK_EVENT_TYPE = 'async_request_completed';

function finalErrors(request: AsyncRequest): AsyncError[] {
  switch (request.status) {
    case 'FAILED':
      return request.errors.length > 0
        ? request.errors
        : [{ code: 'FAILED', message: `the model call failed after ${request.attempts} attempt(s)` }];
    case 'EXPIRED':
      return [
        ...request.errors.filter((e) => e.code !== 'EXPIRED'),
        {
          code: 'EXPIRED',
          message: `the request waited longer than its max_time_in_queue_seconds (${request.max_time_in_queue_s} s) and was not run`,
        },
      ];
    case 'CANCELED':
      return [
        ...request.errors.filter((e) => e.code !== 'CANCELED'),
        { code: 'CANCELED', message: 'the request was canceled before it ran' },
      ];
    default:
      throw new Error(
        `webhookPayload: request ${request.id} is ${request.status}, not a final state to report`,
      );
  }
}

/** The webhook body for a request in a final state (SUCCEEDED, or WEBHOOK_FAILED being retried by hand). */
export function webhookPayload(request: AsyncRequest, nowIso: string): string {
  const head = {
    request_id: request.id,
    model_id: request.model_id,
    deployment_id: request.deployment_id,
    type: WEBHOOK_EVENT_TYPE,
    time: nowIso,
  };
  if (request.status === 'SUCCEEDED' || request.status === 'WEBHOOK_FAILED') {
    const output: unknown = request.output_json === null ? null : JSON.parse(request.output_json);
    return JSON.stringify({ ...head, data: { output } });
  }
  return JSON.stringify({ ...head, errors: finalErrors(request) });
}
