import { constants, createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { isArtifactName } from "../artifacts/names.js";
import type { Incident } from "../incidents/types.js";
import { ApiError, type Reply } from "./http.js";

/**
 * An artifact of the incident, as a download. The name must be one the journal lists for this
 * incident (and look like one medic makes): the path comes from the journal, never from the request.
 */
export async function artifactReply(incident: Incident, name: string, stateDir: string): Promise<Reply> {
  const hint = `GET /api/incidents/${incident.id} lists its artifacts`;
  if (!isArtifactName(name)) throw new ApiError(400, `not an artifact name: ${JSON.stringify(name.slice(0, 64))}`, hint);
  const ref = incident.artifacts?.find((a) => a.name === name);
  if (!ref) throw new ApiError(404, `incident ${incident.id} has no artifact ${name}`, hint);
  let handle;
  try {
    handle = await open(join(stateDir, ref.path), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      throw new ApiError(
        410,
        `artifact ${name} of incident ${incident.id} is gone`,
        "artifacts.retention or artifacts.totalBytes removed it",
      );
    // O_NOFOLLOW: medic never writes a symlink there, so one is someone else's doing.
    if ((err as NodeJS.ErrnoException).code === "ELOOP")
      throw new ApiError(
        403,
        `artifact ${name} of incident ${incident.id} is a symlink; not served`,
        "look at the state dir: medic did not put it there",
      );
    throw err;
  }
  const st = await handle.stat();
  if (!st.isFile()) {
    await handle.close();
    throw new ApiError(410, `artifact ${name} of incident ${incident.id} is not a file any more`, "look at the state dir");
  }
  return {
    status: 200,
    stream: (res) => {
      res.writeHead(200, {
        "content-type": "application/octet-stream",
        "content-length": st.size,
        "content-disposition": `attachment; filename="medic-${incident.id}-${name}"`,
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
        "x-artifact-sha256": ref.sha256,
      });
      // The handle's own stream, so a file swapped in after the checks above is never what is sent.
      const body = createReadStream("", { fd: handle.fd, autoClose: false, start: 0, end: Math.max(0, st.size - 1) });
      const close = () => void handle.close().catch(() => undefined);
      body.on("close", close);
      res.on("close", () => body.destroy());
      if (st.size === 0) {
        body.destroy();
        res.end();
        return;
      }
      body.pipe(res);
    },
  };
}
