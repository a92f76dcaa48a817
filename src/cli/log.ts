/**
 * The CLI's logger: pino, writing JSON lines to stderr, or, on a terminal (or with
 * `--log-format pretty`), one readable line per record: `12:03:04 WARN  message  key=value ...`.
 */
import { pino, type Logger as Pino } from 'pino';

/** `--log-format`: `auto` is pretty on a terminal, JSON otherwise. */
export type LogFormat = 'auto' | 'json' | 'pretty';
export const LOG_FORMATS: LogFormat[] = ['auto', 'json', 'pretty'];

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const COLOURS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };

/** A value as it reads best in one line: strings bare unless they hold spaces, errors by message. */
function show(v: unknown): string {
  if (v && typeof v === 'object' && typeof (v as { message?: unknown }).message === 'string') {
    const e = v as { message: string; code?: string };
    return JSON.stringify(e.code ? `${e.message} (${e.code})` : e.message);
  }
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/** One pino JSON record as a readable line (no newline). `colour` adds ANSI colours to the level. */
export function prettyLine(json: string, colour = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const { level, time, msg, ...rest } = rec;
  const t = typeof time === 'string' ? time.slice(11, 19) : typeof time === 'number' ? new Date(time).toISOString().slice(11, 19) : '';
  const n = typeof level === 'number' ? level : 30;
  const name = LEVELS[n] ?? String(level);
  const lvl = colour ? `\x1b[${COLOURS[n] ?? '0'}m${name}\x1b[0m` : name;
  const fields = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${show(v)}`)
    .join(' ');
  return `${t} ${lvl} ${typeof msg === 'string' ? msg : ''}${fields ? `  ${fields}` : ''}`;
}

/** The logger of one command; `format` decides JSON or pretty lines (`auto`: pretty on a terminal). */
export function logger(level: string, format: LogFormat = 'auto', stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): Pino {
  const opts = { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  const tty = stream.isTTY === true;
  if (format === 'json' || (format === 'auto' && !tty)) return stream === process.stderr ? pino(opts, pino.destination(2)) : pino(opts, stream);
  // On a terminal the status line may be half written: start the log line on a clean line.
  return pino(opts, { write: (s: string) => void stream.write(`${tty ? '\r\x1b[K' : ''}${prettyLine(s, tty)}\n`) });
}
