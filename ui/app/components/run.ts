// Runs an API action and reports it: progress while an async job runs, then its result or
// CloudStack's errortext, in a live region every page shows (and screen readers announce).
import { reactive } from 'vue';
import { errorText, job, type Json, type Params } from '../api.ts';

export interface Report { kind: 'info' | 'success' | 'error'; text: string; jobid?: string }

export const status = reactive<{ report: Report | null; running: number }>({ report: null, running: 0 });

export async function runAction(label: string, command: string, params: Params, done?: (r: Json) => string): Promise<Json | undefined> {
  status.running++;
  status.report = { kind: 'info', text: `${label}: running ${command}…` };
  try {
    const r = await job(command, params, (jobid) => { status.report = { kind: 'info', text: `${label}: job ${jobid} in progress…`, jobid }; });
    status.report = { kind: 'success', text: done ? done(r) : `${label}: done` };
    return r;
  } catch (e) {
    status.report = { kind: 'error', text: `${label} failed: ${errorText(e)}` };
    return undefined;
  } finally {
    status.running--;
  }
}
