/** Keys a path may never follow: they would reach a prototype with plain property access. */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

// A small condition language in the spirit of Gatus (https://github.com/TwiN/gatus#conditions),
// parsed once when the config loads and evaluated as data: nothing is ever eval'd.
//
//   condition  := any
//   any        := all ("||" all)*                  && binds tighter than ||
//   all        := primary ("&&" primary)*
//   primary    := "(" any ")" | operand op operand  op: == != < <= > >=
//   operand    := placeholder path* | len(operand) | "str" | 'str' | number | true | false | null | word
//   placeholder:= [STATUS] | [RESPONSE_TIME] | [CONNECTED] | [BODY] | [FACTS]
//   path       := .name | [index] | ["key"]        only after [BODY] and [FACTS]

/** Longest condition accepted, in characters. */
export const MAX_CONDITION_CHARS = 1000;
const MAX_PATH_SEGMENTS = 32;
const MAX_NESTING = 16;
const PLACEHOLDERS = ["STATUS", "RESPONSE_TIME", "CONNECTED", "BODY", "FACTS"] as const;
/** A bracketed name a condition can read, like [STATUS]. */
export type Placeholder = (typeof PLACEHOLDERS)[number];
/** A comparison operator. */
export type CompareOp = "==" | "!=" | "<=" | ">=" | "<" | ">";
const OPERATORS: readonly CompareOp[] = ["==", "!=", "<=", ">=", "<", ">"];

/** A value in a comparison; `text` is how the operator wrote it. */
export type Operand =
  | { type: "literal"; value: string | number | boolean | null; text: string }
  | { type: "ref"; root: Placeholder; path: (string | number)[]; text: string }
  | { type: "len"; arg: Operand; text: string };

/** The parsed form of a condition. */
export type ConditionNode =
  { type: "compare"; op: CompareOp; left: Operand; right: Operand } | { type: "all" | "any"; items: ConditionNode[] };

/** A parsed condition: the operator's text and its syntax tree (treat as opaque). */
export interface Condition {
  readonly source: string;
  readonly ast: ConditionNode;
}

/** Why a condition did not parse; `offset` is the 0-based index in the text. */
export interface ConditionError {
  ok: false;
  message: string;
  hint: string;
  offset: number;
}

/** Parses a condition once, at config load; never throws. */
export function parseCondition(text: string): { ok: true; condition: Condition } | ConditionError {
  if (text.length > MAX_CONDITION_CHARS) {
    return fail(
      MAX_CONDITION_CHARS,
      `condition is ${text.length} characters long (max ${MAX_CONDITION_CHARS})`,
      "split it into several `when` conditions; all of them must hold",
    );
  }
  try {
    const parser = new Parser(text);
    const ast = parser.parseAll();
    return { ok: true, condition: { source: text, ast } };
  } catch (err) {
    if (err instanceof ParseFailure) return fail(err.offset, err.message, err.hint);
    throw err;
  }
}

function fail(offset: number, message: string, hint: string): ConditionError {
  return { ok: false, message, hint, offset };
}

class ParseFailure extends Error {
  constructor(
    readonly offset: number,
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly text: string) {}

  parseAll(): ConditionNode {
    this.skipSpace();
    if (this.pos >= this.text.length) this.fail(this.pos, "empty condition", "write a comparison, like [STATUS] == 200");
    const node = this.parseAny();
    this.skipSpace();
    if (this.pos < this.text.length) {
      if (this.peek() === ")") this.fail(this.pos, "unexpected )", "remove it, or add the ( it closes");
      if (this.startsWithOperator()) {
        this.fail(this.pos, "comparisons cannot be chained", "join two comparisons with && or ||, like [STATUS] >= 200 && [STATUS] < 300");
      }
      const single = /^[&|]/.exec(this.rest())?.[0];
      if (single) this.fail(this.pos, `${single} is not an operator`, `use ${single}${single} to join comparisons`);
      this.fail(this.pos, `expected && or || before ${this.describeHere()}`, "join comparisons with && (both) or || (either)");
    }
    return node;
  }

  private parseAny(): ConditionNode {
    const items = [this.parseAllOf()];
    while (this.eat("||")) items.push(this.parseAllOf("||"));
    return items.length === 1 ? items[0]! : { type: "any", items };
  }

  private parseAllOf(after?: string): ConditionNode {
    const items = [this.parsePrimary(after)];
    while (this.eat("&&")) items.push(this.parsePrimary("&&"));
    return items.length === 1 ? items[0]! : { type: "all", items };
  }

  private parsePrimary(after?: string): ConditionNode {
    this.skipSpace();
    if (after !== undefined && (this.pos >= this.text.length || /^(&&|\|\||\))/.test(this.rest()))) {
      this.fail(this.pos, `missing condition after ${after}`, `write a comparison after ${after}, or remove the ${after}`);
    }
    if (this.peek() === "(") {
      const open = this.pos;
      if (++this.depth > MAX_NESTING) this.fail(open, `parentheses nested deeper than ${MAX_NESTING}`, "flatten the condition");
      this.pos++;
      const inner = this.parseAny();
      this.skipSpace();
      if (this.peek() !== ")") this.fail(open, "unclosed (", "add the ) that closes it");
      this.pos++;
      this.depth--;
      return inner;
    }
    const start = this.pos;
    const left = this.parseOperand("missing left-hand value", "start with a value, like [STATUS] == 200");
    const op = this.parseOperator(left);
    const right = this.parseOperand(`missing value after ${op}`, `compare with a value, like ${left.text} ${op} 200`);
    if (!hasRef(left) && !hasRef(right)) {
      this.fail(
        start,
        "compares two fixed values, so it never changes",
        "placeholders are written in brackets, like [STATUS], [RESPONSE_TIME] or [BODY].status",
      );
    }
    return { type: "compare", op, left, right };
  }

  private parseOperator(left: Operand): CompareOp {
    this.skipSpace();
    const at = this.pos;
    const op = OPERATORS.find((o) => this.text.startsWith(o, at));
    if (op) {
      this.pos += op.length;
      return op;
    }
    const rest = this.rest();
    if (rest.startsWith("=>") || rest.startsWith("=<")) this.fail(at, `${rest.slice(0, 2)} is not an operator`, `write ${rest[1]}=`);
    if (rest.startsWith("=")) this.fail(at, "= is not an operator", "use == to compare");
    if (rest.startsWith("!")) this.fail(at, "! is not an operator", "use != for 'not equal'");
    const hint = `add an operator (==, !=, <, <=, >, >=) and a value, like ${left.text} == ${left.type === "ref" && left.root === "CONNECTED" ? "true" : "200"}`;
    if (at >= this.text.length || /^(&&|\|\||\))/.test(rest)) this.fail(at, `missing comparison after ${left.text}`, hint);
    this.fail(at, `expected an operator after ${left.text}, got ${this.describeHere()}`, hint);
  }

  private parseOperand(missing: string, hint: string): Operand {
    this.skipSpace();
    const start = this.pos;
    const ch = this.peek();
    if (ch === undefined || /^(&&|\|\||\)|==|!=|<|>)/.test(this.rest())) this.fail(start, missing, hint);
    if (ch === "[") return this.parseRef();
    if (ch === '"' || ch === "'") return this.parseString(ch);
    const word = /^[A-Za-z0-9_.:/@+-]+/.exec(this.rest())?.[0];
    if (word === undefined) this.fail(start, `unexpected ${this.describeHere()}`, 'quote text values, like "some text"');
    this.pos += word.length;
    if (this.peek() === "(") {
      if (word !== "len") this.fail(start, `unknown function ${word}()`, "the only function is len(...), the length of a string or list");
      this.pos++;
      const arg = this.parseOperand("missing value in len()", "write what to measure, like len([BODY].items)");
      this.skipSpace();
      if (this.peek() !== ")") this.fail(start + 3, "unclosed ( of len(", "add the ) that closes it");
      this.pos++;
      return { type: "len", arg, text: this.text.slice(start, this.pos) };
    }
    if (/^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(word)) return { type: "literal", value: Number(word), text: word };
    const keyword = ({ true: true, false: false, null: null } as Record<string, boolean | null>)[word];
    return { type: "literal", value: keyword === undefined ? word : keyword, text: word };
  }

  private parseString(quote: string): Operand {
    const start = this.pos++;
    let value = "";
    while (this.pos < this.text.length && this.text[this.pos] !== quote) {
      // A backslash lets a quote or backslash appear inside the string.
      if (this.text[this.pos] === "\\" && this.pos + 1 < this.text.length) this.pos++;
      value += this.text[this.pos++];
    }
    if (this.pos >= this.text.length) this.fail(start, "unterminated string", `close it with ${quote}`);
    this.pos++;
    return { type: "literal", value, text: this.text.slice(start, this.pos) };
  }

  private parseRef(): Operand {
    const start = this.pos;
    const m = /^\[([^\][]{0,40})\]/.exec(this.rest());
    if (!m) this.fail(start, "unclosed [", "placeholders look like [STATUS] or [BODY].status");
    const name = m[1]!;
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
      const guess = closest(name.trim().toUpperCase());
      this.fail(
        start,
        `unknown placeholder [${name}]`,
        guess ? `did you mean [${guess}]?` : `placeholders are ${PLACEHOLDERS.map((p) => `[${p}]`).join(", ")}`,
      );
    }
    this.pos += m[0].length;
    const root = name as Placeholder;
    const path = this.parsePath(root);
    return { type: "ref", root, path, text: this.text.slice(start, this.pos) };
  }

  private parsePath(root: Placeholder): (string | number)[] {
    const path: (string | number)[] = [];
    while (this.peek() === "." || this.peek() === "[") {
      const at = this.pos;
      if (root !== "BODY" && root !== "FACTS")
        this.fail(at, `[${root}] has no fields`, "only [BODY] and [FACTS] take a path, like [BODY].status");
      if (path.length >= MAX_PATH_SEGMENTS) this.fail(at, `path longer than ${MAX_PATH_SEGMENTS} steps`, "shorten the path");
      const m =
        this.peek() === "."
          ? /^\.([A-Za-z0-9_$-]+)/.exec(this.rest())
          : /^\[(?:(\d{1,9})|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\]/.exec(this.rest());
      if (!m) {
        this.fail(
          at,
          this.peek() === "." ? "expected a field name after ." : "expected an index or a quoted key in [ ]",
          'write fields like .status, list items like [0], and odd keys like ["odd key"]',
        );
      }
      const key = m[1] !== undefined && this.peek() === "[" ? Number(m[1]) : (m[1] ?? m[2] ?? m[3]!).replace(/\\(.)/g, "$1");
      if (typeof key === "string" && RESERVED_KEYS.has(key))
        this.fail(at, `field ${key} is not allowed`, "paths read the body's own data only");
      path.push(key);
      this.pos += m[0].length;
    }
    return path;
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }
  private peek(): string | undefined {
    return this.text[this.pos];
  }
  private rest(): string {
    return this.text.slice(this.pos);
  }
  private eat(token: string): boolean {
    this.skipSpace();
    if (!this.text.startsWith(token, this.pos)) return false;
    this.pos += token.length;
    return true;
  }
  private startsWithOperator(): boolean {
    return OPERATORS.some((o) => this.text.startsWith(o, this.pos));
  }
  private describeHere(): string {
    return JSON.stringify(this.text.slice(this.pos, this.pos + 12));
  }
  private fail(offset: number, message: string, hint: string): never {
    throw new ParseFailure(offset, message, hint);
  }
}

function hasRef(o: Operand): boolean {
  return o.type === "ref" || (o.type === "len" && hasRef(o.arg));
}

// The known placeholder within edit distance 2 of `name`, for did-you-mean hints.
function closest(name: string): Placeholder | undefined {
  let best: Placeholder | undefined;
  let bestDistance = 3;
  for (const p of PLACEHOLDERS) {
    const d = editDistance(name, p);
    if (d < bestDistance) [best, bestDistance] = [p, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}
