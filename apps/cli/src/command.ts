/**
 * The commands' parser: commander's, except that an argument beginning with `-` that is no option
 * of the program is an operand. The ids the relay and the SDK make (conversations, messages,
 * devices) are base64url, so one in 64 begins with `-`; `nullroom group URL -40mwUZ rename X`
 * must not fail as an unknown option, nor `-V…` print the version or `-h…` the help. What still
 * reads as an option: every flag of the program (exactly, or `--flag=value`), and anything shaped
 * like a long or short flag (`--jsn`, `-x`: a typo gets commander's "unknown option"). After `--`,
 * everything is an operand as before.
 */
import { Command, type ParseOptionsResult } from 'commander';

/** A mistyped flag rather than an id: `--` and lower-case words, or one letter after `-`. */
const FLAG_SHAPED = /^(--[a-z][a-z0-9]*(-[a-z0-9]+)*|-[a-zA-Z])$/;

export class CliCommand extends Command {
  override createCommand(name?: string): Command {
    return new CliCommand(name);
  }

  /** Masks the id-like arguments, lets commander parse, then gives them back in place. */
  override parseOptions(args: string[]): ParseOptionsResult {
    const flags = programFlags(this);
    const held = new Map<string, string>();
    const masked: string[] = [];
    let literal = false;
    let valueNext = false;
    for (const arg of args) {
      const asOperand = !literal && !valueNext && isIdLike(arg, flags);
      if (arg === '--') literal = true;
      valueNext = !literal && takesValue(this, arg);
      if (!asOperand) {
        masked.push(arg);
        continue;
      }
      const mark = `\u0000${held.size}`;
      held.set(mark, arg);
      masked.push(mark);
    }
    const parsed = super.parseOptions(masked);
    const back = (xs: string[]) => xs.map((x) => held.get(x) ?? x);
    return { operands: back(parsed.operands), unknown: back(parsed.unknown) };
  }
}

function isIdLike(arg: string, flags: ReadonlySet<string>): boolean {
  if (arg.length < 2 || arg[0] !== '-' || arg === '--' || FLAG_SHAPED.test(arg)) return false;
  const eq = arg.indexOf('=');
  return !flags.has(eq > 0 ? arg.slice(0, eq) : arg);
}

/** This command's option that takes the next argument as its value (`--user -bob` is a value). */
function takesValue(cmd: Command, arg: string): boolean {
  const o = cmd.options.find((x) => x.long === arg || x.short === arg);
  return o !== undefined && (o.required || o.optional);
}

/** Every flag of the program that `cmd` belongs to: its root's and all its commands'. */
function programFlags(cmd: Command): Set<string> {
  let root = cmd;
  while (root.parent !== null) root = root.parent;
  const flags = new Set<string>(['-h', '--help']);
  const visit = (c: Command) => {
    for (const o of c.options) {
      if (o.long !== undefined) flags.add(o.long);
      if (o.short !== undefined) flags.add(o.short);
    }
    for (const sub of c.commands) visit(sub);
  };
  visit(root);
  return flags;
}
