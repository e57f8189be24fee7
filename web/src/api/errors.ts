// Kubernetes Status errors as the console shows them: the server's own message, its reason and
// code, and the field-level causes (`details.causes[].field`) that forms put beside their fields.

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface Status {
  kind?: string;
  apiVersion?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; group?: string; kind?: string; causes?: StatusCause[] };
}

/** An error answered by the API (or the network), decoded from a Kubernetes Status when possible. */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly causes: StatusCause[];

  constructor(code: number, reason: string, message: string, causes: StatusCause[] = []) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.reason = reason;
    this.causes = causes;
  }

  /** Builds an error from a response body: a Status when it is one, else the text itself. */
  static fromBody(code: number, statusText: string, body: string): ApiError {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    if (isStatus(parsed)) {
      return new ApiError(
        parsed.code ?? code,
        parsed.reason ?? '',
        parsed.message ?? statusText,
        parsed.details?.causes ?? [],
      );
    }
    const text = body.trim();
    return new ApiError(code, '', text.length > 0 && text.length < 500 ? text : `${code} ${statusText}`);
  }

  /** The causes keyed by field path (`spec.ip`), the form kit's input. */
  fieldErrors(): Record<string, string> {
    return fieldErrorsOf(this.causes);
  }
}

export function isStatus(v: unknown): v is Status {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'Status';
}

/**
 * Field errors keyed by field path. The server writes a cause's field as `spec.ip` or
 * `spec.containers[0].image`; a cause without a field belongs to the whole form (key '').
 */
export function fieldErrorsOf(causes: StatusCause[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of causes) {
    const key = c.field ?? '';
    const msg = c.message ?? c.reason ?? '';
    out[key] = out[key] ? `${out[key]}; ${msg}` : msg;
  }
  return out;
}

/** A message for a person: what happened, from any thrown value. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
