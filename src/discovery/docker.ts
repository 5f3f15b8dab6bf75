import type { Config, DockerDiscoveryConfig, Target } from "../config/types.js";
import { dockerClient } from "../lib/docker.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";
import { subscribeContainerEvents } from "../probes/docker-events.js";
import { targetFromContainer } from "./labels.js";

/** Where discovered targets go: the daemon adds and removes them as they come and go. */
export interface DiscoverySink {
  add(target: Target): void;
  remove(name: string, reason: string): void;
}

/** A source of targets found at run time. */
export interface Discovery {
  start(sink: DiscoverySink): Promise<void>;
  stop(): void;
}

const LIST_TIMEOUT_MS = 10_000;

/**
 * Containers that opt in with `<label>=true` (like docker-autoheal, but with playbooks): listed
 * at start, then followed on the engine's event stream as they are created, started and removed.
 */
export function dockerDiscovery(engine: DockerDiscoveryConfig, config: Config, log: Logger): Discovery {
  let unsubscribe: (() => void) | undefined;
  return {
    async start(sink) {
      const add = (name: string, labels: Record<string, string>) => {
        const found = targetFromContainer(name, labels, config.defaults, engine);
        if ("error" in found) log.warn({ container: name, reason: found.error }, "not watching a labelled container");
        else sink.add(found.target);
      };
      // Subscribe first so a container started while the list is read is not missed.
      unsubscribe = subscribeContainerEvents(engine, (e) => {
        if (e.labels[engine.label] !== "true") return;
        if (e.action === "create" || e.action === "start") add(e.name, e.labels);
        else if (e.action === "destroy") sink.remove(e.name, "container removed");
      });
      try {
        const list = await dockerClient(engine, LIST_TIMEOUT_MS).listContainers({
          all: true,
          filters: { label: [`${engine.label}=true`] },
        });
        for (const c of list) add((c.Names[0] ?? c.Id).replace(/^\//, ""), c.Labels ?? {});
      } catch (err) {
        log.warn({ err: describeError(err) }, "could not list containers; discovering them from events only");
      }
    },
    stop() {
      unsubscribe?.();
    },
  };
}
