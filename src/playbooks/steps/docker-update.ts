import { z } from "zod";
import { bytes } from "../../config/fields.js";
import { formatBytes } from "../../lib/size.js";

// What docker.update sends: https://docs.docker.com/engine/api/v1.41/#operation/ContainerUpdate

/** docker.update's limit params (the container and connection are added by the step). */
export const updateShape = {
  memory: z
    .union([
      bytes(),
      z.strictObject({
        factor: z
          .number()
          .gt(1, "factor must be above 1 (hint: 2 doubles the limit)")
          .meta({ description: "Multiply the current limit by this" }),
        max: bytes().meta({ description: "Never raise past this ceiling; at it, the step fails so the playbook escalates" }),
      }),
    ])
    .optional()
    .meta({ description: "New memory limit: a size (256MiB), or { factor: 2, max: 1GiB } to grow the current one up to a ceiling" }),
  memorySwap: z
    .union([z.literal("same"), bytes()])
    .optional()
    .meta({
      description: "Memory plus swap: a size, or same (no swap); default same when memory is given, as the engine refuses memory above it",
    }),
  cpus: z
    .number()
    .gt(0, "cpus must be above 0 (hint: 0.5 is half a CPU)")
    .optional()
    .meta({ description: "CPUs the container may use, like 0.5 or 2" }),
};

/** Validated limit params of docker.update. */
export interface UpdateParams {
  memory?: number | { factor: number; max: number };
  memorySwap?: number | "same";
  cpus?: number;
}

/** Limits as the engine reports them in HostConfig: 0 means none, MemorySwap -1 means unlimited swap. */
export interface HostLimits {
  Memory?: number;
  MemorySwap?: number;
  NanoCpus?: number;
}

/** What to send to the engine and how to say it, or why not to send anything. */
export type UpdatePlan = { body: { Memory?: number; MemorySwap?: number; NanoCpus?: number }; detail: string } | { refuse: string };

/** Decides the new limits from the params and the current ones. Pure. */
export function planUpdate(p: UpdateParams, current: HostLimits): UpdatePlan {
  const body: { Memory?: number; MemorySwap?: number; NanoCpus?: number } = {};
  const said: string[] = [];
  const now = current.Memory ?? 0;

  if (typeof p.memory === "number") {
    body.Memory = p.memory;
    said.push(`memory ${formatLimit(now)} -> ${formatBytes(p.memory)}`);
  } else if (p.memory) {
    const { factor, max } = p.memory;
    if (now === 0)
      return {
        refuse: `no memory limit is set, so there is nothing to multiply by ${factor} (hint: give a size, like memory: ${formatBytes(max)})`,
      };
    // At the ceiling the step fails, so the playbook escalates instead of raising forever.
    if (now >= max) return { refuse: `memory already at its ceiling ${formatBytes(max)}: not raising` };
    body.Memory = Math.min(Math.floor(now * factor), max);
    said.push(`memory ${formatBytes(now)} -> ${formatBytes(body.Memory)} (ceiling ${formatBytes(max)})`);
  }

  const memory = body.Memory ?? now;
  // The engine refuses a memory limit above memory+swap, so raising memory always sends both.
  if (p.memorySwap === "same" || (p.memorySwap === undefined && body.Memory !== undefined)) {
    if (memory === 0) return { refuse: "memorySwap: same needs a memory limit, and none is set (hint: give memory too)" };
    body.MemorySwap = memory;
  } else if (typeof p.memorySwap === "number") {
    if (p.memorySwap < memory) {
      return {
        refuse: `memorySwap ${formatBytes(p.memorySwap)} is below memory ${formatBytes(memory)}, which the engine refuses (hint: memorySwap: same)`,
      };
    }
    body.MemorySwap = p.memorySwap;
  }
  if (body.MemorySwap !== undefined) said.push(`swap ${formatBytes(body.MemorySwap)}`);

  if (p.cpus !== undefined) {
    body.NanoCpus = Math.round(p.cpus * 1e9);
    said.push(`cpus ${formatCpus(current.NanoCpus ?? 0)} -> ${formatCpus(body.NanoCpus)}`);
  }
  return { body, detail: said.join(", ") };
}

/** `memory 64MiB, swap 64MiB, cpus 0.5`: a container's limits for previews. */
export function describeLimits(h: HostLimits): string {
  const swap = h.MemorySwap === -1 ? "unlimited" : h.MemorySwap ? formatBytes(h.MemorySwap) : "default";
  return `memory ${formatLimit(h.Memory ?? 0)}, swap ${swap}, cpus ${formatCpus(h.NanoCpus ?? 0)}`;
}

/** One line for plans: `raise memory of orders-api x2 up to 256MiB`. */
export function describeUpdate(p: UpdateParams, name: string): string {
  const parts: string[] = [];
  if (typeof p.memory === "number") parts.push(`set memory of ${name} to ${formatBytes(p.memory)}`);
  else if (p.memory) parts.push(`raise memory of ${name} x${p.memory.factor} up to ${formatBytes(p.memory.max)}`);
  if (typeof p.memorySwap === "number") parts.push(`set memory+swap of ${name} to ${formatBytes(p.memorySwap)}`);
  if (p.cpus !== undefined) parts.push(`limit ${name} to ${p.cpus} cpus`);
  return parts.join("; ");
}

const formatLimit = (n: number): string => (n === 0 ? "unlimited" : formatBytes(n));
const formatCpus = (nano: number): string => (nano === 0 ? "unlimited" : String(nano / 1e9));
