import { assetReply } from "./assets.js";
import { eventsRoute } from "./events.js";
import { ApiError } from "./http.js";
import { statusRoute } from "./status.js";
import type { Route } from "./types.js";

/**
 * The web console: its page at / (every URL in it is relative, so it works behind a reverse proxy
 * on a sub-path), its files under /console/, and the two endpoints only a live view needs: medic's
 * own status and the stream of changes.
 */
export const consoleRoutes: readonly Route[] = [
  statusRoute,
  eventsRoute,
  { method: "GET", path: "/", access: "open", handle: (req) => assetReply("index.html", req.headers) },
  {
    method: "GET",
    path: "/console/:file",
    access: "open",
    handle: (req) => {
      // The page itself lives at / only: from /console/ its relative links would point one folder too deep.
      if (req.params.file === "index.html") throw new ApiError(404, "the console's page is at /", "open / instead");
      return assetReply(req.params.file!, req.headers);
    },
  },
];
