import type { Server } from "node:http";
import type { Socket } from "node:net";

/** How many connections the API holds, and what one client may keep of them once it is full. */
export interface ConnectionLimits {
  max: number;
  perClient: number;
}

/**
 * Admits connections so that one client cannot lock the others out. While fewer than `max` are
 * open, every connection is taken (a burst of quick requests is fine). At `max`, a new connection
 * is still taken when the client holding the most has more than `perClient`: its oldest idle
 * connection (no request in flight: headers still coming, or between keep-alive requests) is closed
 * to make room. Otherwise the new one is refused. Every local client shares 127.0.0.1, so a plain
 * per-address cap would let a local flood of slow-header connections shut out the health checks
 * of systemd or a container engine; this way a check, which sends its request at once, gets in.
 */
export function admitConnections(server: Server, limits: ConnectionLimits): void {
  const byClient = new Map<string, Set<Socket>>();
  const busy = new WeakSet<Socket>();
  let open = 0;

  server.on("connection", (socket: Socket) => {
    if (open >= limits.max && !makeRoom()) {
      socket.destroy();
      return;
    }
    const client = socket.remoteAddress ?? "unknown";
    let sockets = byClient.get(client);
    if (!sockets) byClient.set(client, (sockets = new Set()));
    const own = sockets;
    own.add(socket);
    open++;
    socket.once("close", () => {
      if (!own.delete(socket)) return;
      open--;
      if (own.size === 0 && byClient.get(client) === own) byClient.delete(client);
    });
  });

  server.on("request", (req, res) => {
    busy.add(req.socket);
    res.once("close", () => busy.delete(req.socket));
  });

  // Closes the oldest idle connection of the client holding the most, if it holds more than its share.
  function makeRoom(): boolean {
    let heaviest: Set<Socket> | undefined;
    for (const sockets of byClient.values()) if (!heaviest || sockets.size > heaviest.size) heaviest = sockets;
    if (!heaviest || heaviest.size <= limits.perClient) return false;
    const idle = [...heaviest].find((s) => !busy.has(s));
    if (!idle) return false;
    heaviest.delete(idle);
    open--;
    idle.destroy();
    return true;
  }
}
