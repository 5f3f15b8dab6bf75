import { authHeaders, onUnauthorized } from "./api.js";
import { sseParser, type SseEvent } from "./sse.js";

/** The live stream's state, as the header shows it. */
export type LiveState = "connecting" | "live" | "retrying" | "unauthorized";

/** A stream that keeps itself open: `stop()` ends it. */
export interface Live {
  stop(): void;
  /** Reconnect now (a new token). */
  restart(): void;
}

// A silent stream for this long is taken for dead (the server sends a comment every 15 s at least).
const SILENCE_MS = 40_000;
const RETRY_MS = [1_000, 2_000, 5_000, 10_000];

/**
 * Reads GET api/events with fetch() and the token header (EventSource cannot send one), calls
 * `onEvent` for each event, and reconnects after a failure, waiting longer each time up to 10 s.
 */
export function connectLive(onEvent: (e: SseEvent) => void, onState: (s: LiveState) => void): Live {
  let stopped = false;
  let tries = 0;
  let current: AbortController | undefined;
  let wait: ReturnType<typeof setTimeout> | undefined;

  const run = async (): Promise<void> => {
    const abort = (current = new AbortController());
    let silence: ReturnType<typeof setTimeout> | undefined;
    const alive = () => {
      clearTimeout(silence);
      silence = setTimeout(() => abort.abort(), SILENCE_MS);
    };
    onState(tries === 0 ? "connecting" : "retrying");
    try {
      const res = await fetch("api/events", {
        headers: authHeaders({ accept: "text/event-stream" }),
        signal: abort.signal,
        credentials: "omit",
        cache: "no-store",
      });
      if (res.status === 401) {
        onState("unauthorized");
        onUnauthorized.forEach((f) => f());
        return;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      alive();
      const parse = sseParser((e) => {
        alive();
        if (e.event === "snapshot") {
          tries = 0;
          onState("live");
        }
        onEvent(e);
      }, alive);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parse(value);
      }
    } catch {
      // Dropped, refused or timed out: try again below.
    } finally {
      clearTimeout(silence);
    }
    if (stopped || abort !== current) return;
    onState("retrying");
    wait = setTimeout(() => void run(), RETRY_MS[Math.min(tries++, RETRY_MS.length - 1)]);
  };

  void run();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(wait);
      current?.abort();
    },
    restart: () => {
      clearTimeout(wait);
      tries = 0;
      const old = current;
      current = undefined;
      old?.abort();
      if (!stopped) void run();
    },
  };
}
