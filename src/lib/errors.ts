/** The one error type medic shows a person: a stable code, what failed, what to do next. */
export class MedicError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly retryable: boolean;

  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown; retryable?: boolean } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "MedicError";
    this.code = code;
    this.hint = opts.hint;
    this.retryable = opts.retryable ?? false;
  }

  /** `message (hint: …)`, the form printed to a terminal. */
  describe(): string {
    return this.hint ? `${this.message} (hint: ${this.hint})` : this.message;
  }
}

/** A short, single-line description of anything thrown, for timelines and logs. */
export function describeError(err: unknown): string {
  if (err instanceof MedicError) return err.describe();
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** The errno-style code of a thrown value, or a fallback. */
export function errorCode(err: unknown, fallback = "EUNKNOWN"): string {
  if (err instanceof MedicError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : fallback;
}
