// Cell renderers shared by the pages.
import { h } from 'vue';
import type { Json } from '../api.ts';

const KIND: Record<string, 'success' | 'warning' | 'error' | 'default' | 'info'> = {
  Running: 'success', Up: 'success', Enabled: 'success', enabled: 'success', Allocated: 'success', Implemented: 'success', Active: 'success', Setup: 'info',
  Starting: 'warning', Stopping: 'warning', Creating: 'warning', Allocating: 'warning', Connecting: 'warning', Maintenance: 'warning', PrepareForMaintenance: 'warning',
  Stopped: 'default', Disconnected: 'error', Down: 'error', Error: 'error', Alert: 'error', Destroyed: 'error', Expunging: 'error', disabled: 'error', Disabled: 'error',
};

// A state as a coloured label (a span with a class: cheaper per row than a component).
export const stateTag = (key = 'state') => (row: Json) => row[key] === undefined ? '' : h('span', { class: `tag ${KIND[String(row[key])] ?? 'default'}` }, String(row[key]));

const unit = (n: number, units: string[], step: number) => { let i = 0; while (n >= step && i < units.length - 1) { n /= step; i++; } return `${i ? n.toFixed(1) : n} ${units[i]}`; };
export const bytes = (n: number) => unit(Number(n) || 0, ['B', 'KiB', 'MiB', 'GiB', 'TiB'], 1024);
export const mb = (n: number) => unit(Number(n) || 0, ['MiB', 'GiB', 'TiB'], 1024);

/** A rule's hit counters (Flotilla's `packets`/`bytes` on rule lists). */
export const counters = (row: Json) => h('span', { class: 'counters', 'data-testid': 'counter' }, `${Number(row.packets ?? 0)} pkts / ${bytes(row.bytes)}`);

export const yesNo = (key: string) => (row: Json) => row[key] === true || row[key] === 'true' ? 'yes' : 'no';
export const date = (key: string) => (row: Json) => row[key] ? new Date(String(row[key])).toLocaleString() : '';

/** How a row is named to people and screen readers (buttons say "Delete 192.0.2.10–192.0.2.20"). */
export const rowName = (r: Json): string => String(r.name ?? r.loadbalancerruleinstance?.name ?? r.ipaddress ?? r.username ?? (r.startip ? `${r.startip}–${r.endip}` : undefined)
  ?? (r.protocol ? `${r.protocol} ${r.publicport ?? r.startport ?? ''} rule`.replace(/ +rule$/, ' rule') : undefined) ?? (r.traffictype ? `${r.traffictype} traffic` : undefined) ?? r.id);

/** A router's health: its checks (Flotilla's healthcheckresults), the failing ones named. */
export const routerHealth = (r: Json) => {
  const checks = (r.healthcheckresults ?? []) as Json[];
  if (!checks.length) return r.healthchecksfailed ? 'failing' : '';
  const bad = checks.filter((c) => c.success === false || c.success === 'false').map((c) => String(c.checkname ?? c.name ?? '?'));
  return bad.length ? `failing: ${bad.join(', ')}` : `ok (${checks.length} checks)`;
};
/** A router's generation: the desired state's and the one it last reported applied. */
export const generation = (r: Json) => r.generation === undefined ? '' : `${r.appliedgeneration ?? '–'} of ${r.generation}${Number(r.appliedgeneration) === Number(r.generation) ? ' (applied)' : ' (pending)'}`;
