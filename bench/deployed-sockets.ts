import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/**
 * Which process owns a loopback TCP connection, from Linux's /proc: a process's open sockets
 * (`/proc/<pid>/fd` -> `socket:[inode]`) and the TCP table (`/proc/<pid>/net/tcp{,6}`: local
 * address and inode). MONITOR names each command's client by its address, so this tells the
 * bot process's Redis commands from the worker's without touching their connections.
 * Elsewhere than Linux it finds nothing, and the commands stay unattributed.
 */

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // closed while we looked
    }
  }
  return inodes;
}

/** inode -> local port, from one TCP table. */
function localPorts(table: string): Map<string, number> {
  const ports = new Map<string, number>();
  let text: string;
  try {
    text = readFileSync(table, 'utf8');
  } catch {
    return ports;
  }
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const inode = fields[9];
    if (!local || !inode) continue;
    ports.set(inode, parseInt(local.slice(local.lastIndexOf(':') + 1), 16));
  }
  return ports;
}

/**
 * Local port -> name, for the TCP connections the named processes hold now. Call it while
 * they are running; a connection closed since is no longer there.
 */
export function portsOwnedBy(processes: Record<string, number>): Map<number, string> {
  const owners = new Map<number, string>();
  for (const [name, pid] of Object.entries(processes)) {
    const inodes = socketInodes(pid);
    if (inodes.size === 0) continue;
    for (const table of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
      for (const [inode, port] of localPorts(table)) if (inodes.has(inode)) owners.set(port, name);
    }
  }
  return owners;
}

/** The port of a MONITOR client address (`127.0.0.1:41234`, `[::1]:41234`). */
export function portOf(address: string): number | undefined {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return Number.isInteger(port) && port > 0 ? port : undefined;
}
