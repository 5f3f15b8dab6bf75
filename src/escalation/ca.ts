import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { describeError, MedicError } from "../lib/errors.js";

/** How a channel's CA file is named in its error: the error code, the config key, and whose certificate the CA signed. */
export interface CaUse {
  code: string;
  /** The key as the operator wrote it: "notify.email.ca". */
  key: string;
  /** "the SMTP server's certificate". */
  signed: string;
}

/** Reads a PEM CA certificate for a channel's TLS; a MedicError naming the file and `use.key` when it is unreadable or no certificate. */
export function readCa(file: string, use: CaUse): Buffer {
  try {
    const pem = readFileSync(file);
    // TLS quietly skips what it cannot parse; find out now rather than at the first send.
    new X509Certificate(pem);
    return pem;
  } catch (err) {
    throw new MedicError(use.code, `cannot use ${file} as ${use.key}: ${describeError(err)}`, {
      cause: err,
      hint: `point ca at a readable PEM file with the CA certificate that signed ${use.signed}`,
    });
  }
}
