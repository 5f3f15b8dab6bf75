import { ApiProblem, postJson } from "./api.js";
import { dateTime } from "./format.js";
import { h } from "./preact.js";
import { useState } from "./preact-hooks.js";
import type { Approval } from "./types.js";

// The console's controls. Each is one API call with the token in its header; the console shows a
// control only to a role the API lets use it (roles.ts), and the API checks again regardless.

/** Pause durations offered (anything medic pause takes can be typed). */
export const PAUSE_CHOICES = ["15m", "30m", "1h", "2h", "4h", "8h", "24h"];

type Outcome = { ok: true; text: string } | { ok: false; text: string } | undefined;

// One call at a time per control, and what came of it in words.
function useCall(): [boolean, Outcome, (path: string, body: unknown, said: string) => Promise<boolean>] {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(undefined);
  const run = async (path: string, body: unknown, said: string) => {
    setBusy(true);
    setOutcome(undefined);
    try {
      await postJson(path, body);
      setOutcome({ ok: true, text: said });
      return true;
    } catch (err) {
      const text = err instanceof ApiProblem ? `${err.message}${err.hint ? ` (${err.hint})` : ""}` : String(err);
      setOutcome({ ok: false, text });
      return false;
    } finally {
      setBusy(false);
    }
  };
  return [busy, outcome, run];
}

function Said({ outcome }: { outcome: Outcome }) {
  return (
    <p class={outcome ? (outcome.ok ? "done" : "error") : "said"} role="status">
      {outcome?.text ?? ""}
    </p>
  );
}

const value = (e: Event) => (e.target as HTMLInputElement).value;
const incidentPath = (id: string, what: string) => `api/incidents/${encodeURIComponent(id)}/${what}`;

/** Acknowledge: a person takes the incident on (timed escalation stops). */
export function AckControl({ id, onDone }: { id: string; onDone: () => void }) {
  const [note, setNote] = useState("");
  const [busy, outcome, run] = useCall();
  return (
    <form
      class="control"
      aria-label="Acknowledge"
      onSubmit={async (e) => {
        e.preventDefault();
        if (await run(incidentPath(id, "ack"), note.trim() ? { note: note.trim() } : {}, "Acknowledged.")) onDone();
      }}
    >
      <label>
        Note <input name="note" value={note} maxLength={500} placeholder="optional" onInput={(e) => setNote(value(e))} />
      </label>
      <button type="submit" disabled={busy}>
        Acknowledge
      </button>
      <Said outcome={outcome} />
    </form>
  );
}

/** Approve or reject the step an approval gate holds, with its rendered plan in front of the person. */
export function ApprovalControl({ id, approval, onDone }: { id: string; approval: Approval; onDone: () => void }) {
  const [note, setNote] = useState("");
  const [reason, setReason] = useState("");
  const [busy, outcome, run] = useCall();
  return (
    <section class="approval" aria-labelledby="approval-title" data-testid="approval">
      <h2 id="approval-title">
        <span aria-hidden="true">⚑</span> Approval needed: {approval.run ? "the run from " : ""}step {approval.step + 1},{" "}
        {approval.stepName}
      </h2>
      <p>
        Asked at {dateTime(approval.askedAt)}: {approval.why}. Without an answer by {dateTime(approval.expiresAt)} it escalates, and nothing
        runs. Approved, medic looks at the target again first: recovered meanwhile, nothing runs.
      </p>
      <p>This is what would run:</p>
      <pre class="plan">{approval.plan.join("\n")}</pre>
      <form
        class="control"
        aria-label="Approve"
        onSubmit={async (e) => {
          e.preventDefault();
          if (
            await run(incidentPath(id, "approve"), note.trim() ? { note: note.trim() } : {}, "Approved: medic checks again, then runs it.")
          )
            onDone();
        }}
      >
        <label>
          Note <input name="note" value={note} maxLength={500} placeholder="optional" onInput={(e) => setNote(value(e))} />
        </label>
        <button type="submit" disabled={busy}>
          Approve
        </button>
      </form>
      <form
        class="control"
        aria-label="Reject"
        onSubmit={async (e) => {
          e.preventDefault();
          if (await run(incidentPath(id, "reject"), { reason: reason.trim() }, "Rejected: the incident escalates.")) onDone();
        }}
      >
        <label>
          Reason <input name="reason" value={reason} maxLength={500} required onInput={(e) => setReason(value(e))} />
        </label>
        <button type="submit" disabled={busy || !reason.trim()}>
          Reject
        </button>
      </form>
      <Said outcome={outcome} />
    </section>
  );
}

/** Pause medic's actions on a target (or all of them, with "*") for a while, with a reason. */
export function PauseControl({ target, onDone }: { target: string; onDone: () => void }) {
  const [duration, setDuration] = useState("30m");
  const [reason, setReason] = useState("");
  const [busy, outcome, run] = useCall();
  const body = target === "*" ? { all: true } : { target };
  return (
    <form
      class="control"
      aria-label={target === "*" ? "Pause every target" : `Pause ${target}`}
      onSubmit={async (e) => {
        e.preventDefault();
        const said = `Paused ${target === "*" ? "every target" : target} for ${duration}.`;
        if (await run("api/pause", { ...body, for: duration, reason: reason.trim() }, said)) onDone();
      }}
    >
      <label>
        For <input name="for" list="pause-choices" value={duration} size={5} required onInput={(e) => setDuration(value(e).trim())} />
        <datalist id="pause-choices">
          {PAUSE_CHOICES.map((c) => (
            <option value={c} />
          ))}
        </datalist>
      </label>
      <label>
        Reason <input name="reason" value={reason} maxLength={500} required onInput={(e) => setReason(value(e))} />
      </label>
      <button type="submit" disabled={busy || !reason.trim()}>
        Pause {target === "*" ? "all" : target}
      </button>
      <Said outcome={outcome} />
    </form>
  );
}

/** End pauses: one by its id, or every pause of a target. */
export function ResumeControl({ target, id, onDone }: { target?: string; id?: string; onDone: () => void }) {
  const label = `Resume${target ? ` ${target}` : ""}`;
  return <OneClick path="api/resume" body={id ? { id } : { target }} said="Resumed." label={label} onDone={onDone} />;
}

/** Reset a target's flap guard: count playbook runs from now on. */
export function GuardResetControl({ target, onDone }: { target: string; onDone: () => void }) {
  const label = `Reset flap guard of ${target}`;
  return <OneClick path="api/guard/reset" body={{ target }} said={`Flap guard of ${target} reset.`} label={label} onDone={onDone} />;
}

// A control that is one button: one call, what it answered said beside it.
function OneClick(props: { path: string; body: unknown; said: string; label: string; onDone: () => void }) {
  const [busy, outcome, run] = useCall();
  return (
    <span class="control inline">
      <button
        type="button"
        disabled={busy}
        onClick={async () => {
          if (await run(props.path, props.body, props.said)) props.onDone();
        }}
      >
        {props.label}
      </button>
      <Said outcome={outcome} />
    </span>
  );
}
