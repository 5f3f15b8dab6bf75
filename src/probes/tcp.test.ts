import { describe, expect, it } from "vitest";
import { z } from "zod";
import { tcpProbe } from "./tcp.js";

describe("tcp probe params", () => {
  it("defaults the host to 127.0.0.1", () => {
    expect(tcpProbe.schema.parse({ port: 5432 })).toEqual({ host: "127.0.0.1", port: 5432 });
  });

  it.each([[{}], [{ port: 0 }], [{ port: 65536 }], [{ port: 80.5 }], [{ port: "5432" }], [{ port: 1, extra: true }]])(
    "rejects %j",
    (input) => expect(tcpProbe.schema.safeParse(input).success).toBe(false),
  );

  it("describes host:port, bracketing IPv6", () => {
    expect(tcpProbe.describe({ host: "127.0.0.1", port: 5432 })).toBe("tcp 127.0.0.1:5432");
    expect(tcpProbe.describe({ host: "::1", port: 6379 })).toBe("tcp [::1]:6379");
  });

  it("is representable as JSON Schema", () => {
    const schema = z.toJSONSchema(tcpProbe.schema, { io: "input" }) as { required: string[] };
    expect(schema.required).toEqual(["port"]);
  });
});
