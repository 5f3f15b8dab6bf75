import { eventsRoute } from "./events.js";
import { statusRoute } from "./status.js";
import type { Route } from "./types.js";

/** The endpoints the web console needs besides the rest of the API: medic's own status and the stream of changes. */
export const consoleRoutes: readonly Route[] = [statusRoute, eventsRoute];
