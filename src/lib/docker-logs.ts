/**
 * The text of a container's log as the engine sends it for a container without a TTY: frames of an
 * 8-byte header (stream 1 = stdout, 2 = stderr; then a big-endian length) and their payload, in the
 * order they were written. stderr lines are marked, so they can be told apart in one file.
 * https://docs.docker.com/engine/api/v1.41/#tag/Container/operation/ContainerAttach ("Stream format")
 */
export function demuxDockerLog(raw: Buffer): string {
  const out: string[] = [];
  let pos = 0;
  while (pos + 8 <= raw.length) {
    const stream = raw[pos]!;
    const size = raw.readUInt32BE(pos + 4);
    const payload = raw.subarray(pos + 8, Math.min(raw.length, pos + 8 + size)).toString("utf8");
    out.push(stream === 2 ? payload.replace(/^(?=.)/gm, "stderr: ") : payload);
    pos += 8 + size;
  }
  return out.join("");
}

/** True when the buffer starts like a multiplexed log (a TTY container's log is raw text instead). */
export function looksMultiplexed(raw: Buffer): boolean {
  return raw.length >= 8 && raw[0]! <= 2 && raw[1] === 0 && raw[2] === 0 && raw[3] === 0;
}
