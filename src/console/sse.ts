// Server-sent events read from a fetch() body (EventSource cannot send the token header).

/** One event: its name ("message" when none was given) and its data lines joined. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * A parser that takes the stream's text in whatever pieces it arrives and calls `onEvent` for each
 * complete event. Comment lines (": alive") count as a sign of life through `onAlive`.
 */
export function sseParser(onEvent: (e: SseEvent) => void, onAlive: () => void = () => {}): (chunk: string) => void {
  let buffer = "";
  let event = "";
  let data: string[] = [];
  return (chunk) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
      // A \r at the end may be the first half of a \r\n still on its way.
      if (buffer[nl] === "\r" && nl === buffer.length - 1) break;
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {
        if (data.length > 0) onEvent({ event: event || "message", data: data.join("\n") });
        event = "";
        data = [];
        continue;
      }
      if (line.startsWith(":")) {
        onAlive();
        continue;
      }
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
  };
}
