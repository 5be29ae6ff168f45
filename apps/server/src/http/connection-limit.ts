import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { CairnError } from '@cairn/protocol';
import { rawErrorResponse } from './raw-error-response.ts';

/** Connections refused for being over the cap; a request parsed on one before it closed is dropped. */
const refusedConnections = new WeakSet<Socket>();

/** The soft limit on this process's open files (`ulimit -n`), from /proc/self/limits; null where unreadable. */
export function openFilesLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((candidate) => candidate.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft === undefined || soft === 'unlimited' ? null : Number(soft);
  } catch {
    return null;
  }
}

/**
 * How many connections the server holds at once: at most half the open-files limit, so the other
 * half stays for what a connection must never starve — the engine's database and its journal,
 * storage's files, each sandbox's pipes, the log — and `configured` (`server.maxConnections`) when
 * lower. At least 8, so a tiny limit still serves someone.
 */
export function connectionCapOf(openFiles: number | null, configured: number | undefined): number {
  const room = openFiles === null ? Number.POSITIVE_INFINITY : Math.max(8, Math.floor(openFiles / 2));
  return Math.min(room, configured ?? Number.POSITIVE_INFINITY, 1_000_000);
}

/**
 * Holds `server` to `cap` open connections: one more is answered 503 CAIRN_SERVER_BUSY and closed
 * at once (its descriptor held a few seconds at most), instead of being accepted until accept() itself fails (a reset, with every descriptor
 * gone). A refused connection holds its descriptor until its client closes it too, so a flood
 * could still take them all: at most a quarter of `cap` are being refused so at once, and any
 * beyond that is reset at once. `onRefused` hears of each one.
 */
export function limitConnections(server: Server, cap: number, onRefused: () => void): void {
  let open = 0;
  let refusing = 0;
  const refusingCap = Math.max(8, Math.floor(cap / 4));
  // Before the HTTP server's own listener, so a refused socket is answered before any parser reads it.
  server.prependListener('connection', (socket: Socket) => {
    if (open >= cap) {
      refusedConnections.add(socket);
      onRefused();
      if (refusing >= refusingCap) {
        socket.destroy();
        return;
      }
      refusing++;
      socket.once('close', () => refusing--);
      const busy = new CairnError('CAIRN_SERVER_BUSY', `This server holds its ${cap} connections already; this one was refused.`);
      // Ended, not destroyed: closing with the client's request unread would reset the connection
      // before the client reads the answer. What it sends meanwhile is read and dropped; one that
      // never closes its end is cut after a few seconds.
      socket.end(rawErrorResponse(busy));
      socket.setTimeout(5_000, () => socket.destroy());
      return;
    }
    open++;
    socket.once('close', () => open--);
  });
}

/** Whether a request came on a connection refused for being over the cap (its answer was sent already). */
export function isRefusedConnection(socket: Socket): boolean {
  return refusedConnections.has(socket);
}
