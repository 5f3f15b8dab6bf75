import { describe, expect, it } from "vitest";
import { parseRoute, routeHash, type Route } from "./route.js";

describe("routes by hash", () => {
  it.each<[string, Route]>([
    ["", { page: "fleet" }],
    ["#/", { page: "fleet" }],
    ["#/nowhere", { page: "fleet" }],
    ["#/status", { page: "status" }],
    ["#/incidents/ab%2Fcd", { page: "incident", id: "ab/cd" }],
    ["#/incidents?state=held&severity=P1", { page: "incidents", filters: { state: "held", target: "", severity: "P1" } }],
  ])("%s", (hash, route) => {
    expect(parseRoute(hash)).toEqual(route);
  });

  it("writes back what it reads", () => {
    for (const route of [
      { page: "fleet" },
      { page: "status" },
      { page: "incident", id: "a b" },
      { page: "incidents", filters: { state: "open", target: "web", severity: "" } },
    ] as Route[]) {
      expect(parseRoute(routeHash(route))).toEqual(route.page === "incidents" ? { ...route } : route);
    }
  });
});
