#!/usr/bin/env node
// SIGHUP first: node's default for it is to exit, and a reload asked for while `medic run` loads
// must wait for it. The program is imported only after, so its loading time is covered too.
import { holdSighup } from "./sighup.js";

holdSighup();
await import("./program.js");
