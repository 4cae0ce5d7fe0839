/**
 * Whether this process is in its terminal's foreground process group: then a signal the terminal
 * generates (Ctrl-C's SIGINT, a hangup's SIGHUP) went to the whole group, including a child that shares
 * it (issue 16 f6).
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * True when this process's group is the foreground group of its controlling terminal. Reads
 * `/proc/self/stat` (Linux), else asks `ps`; false when neither can tell (no terminal, no `ps`).
 *
 * @example
 * ```ts
 * if (sig === 'SIGINT' && inTerminalForeground()) return; // the terminal sent it to the child too
 * ```
 *
 * Failure modes: never throws; an unreadable answer is `false` (the caller then forwards, as without a
 * terminal).
 */
export function inTerminalForeground(): boolean {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after "(comm)": state ppid pgrp session tty_nr tpgid …; comm itself may contain spaces.
    const [, , pgrp, , , tpgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return pgrp !== undefined && tpgid !== undefined && Number(tpgid) > 0 && pgrp === tpgid;
  } catch {
    // Not Linux: fall through to ps.
  }
  try {
    const out = execFileSync('ps', ['-o', 'pgid=,tpgid=', '-p', String(process.pid)], {
      encoding: 'utf8',
      timeout: 1000,
    });
    const [pgid, tpgid] = out.trim().split(/\s+/);
    return pgid !== undefined && tpgid !== undefined && Number(tpgid) > 0 && pgid === tpgid;
  } catch {
    return false;
  }
}
