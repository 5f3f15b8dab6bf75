import { redactor } from "../lib/redact.js";
import type { Notifier, SendResult } from "./types.js";

/**
 * The notifier with every message it is given, and every result it reports, passed through the
 * redactor: all that medic sends to humans, and all it learns back, goes through here.
 */
export function redacting(notifier: Notifier): Notifier {
  const clean = (result: SendResult): SendResult => redactor.value(result);
  return {
    name: notifier.name,
    accepts: notifier.accepts,
    ...(notifier.pages && { pages: true }),
    send: async (n, signal) => clean(await notifier.send(redactor.value(n), signal)),
    ...(notifier.announce && {
      announce: async (text: string, signal: AbortSignal) => clean(await notifier.announce!(redactor.text(text), signal)),
    }),
  };
}
