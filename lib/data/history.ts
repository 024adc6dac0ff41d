/**
 * User histories: for each sample, the user's events strictly before the sample's time,
 * newest last, cut to the most recent maxLength. Built with two passes over typed arrays
 * (lengths, then copies), so the output is allocated once at its exact size.
 */
import { LemurError } from '../errors.js';
import type { SequenceColumns } from './columns.js';

/** Each user's events, oldest first, as CSR: user u owns [offsets[u], offsets[u+1]). */
export interface UserEvents {
  offsets: Int32Array;
  docs: Int32Array;
  /** Seconds since the epoch, non-decreasing within a user. */
  times: Float64Array;
  /** Optional action type per event (>= 0). */
  actions?: Int32Array;
}

/**
 * Groups events by user, keeping the given order inside each user (a stable counting sort).
 * `order` lists event indices oldest first; `keep` filters events (e.g. likes only).
 */
export function groupByUser(
  numUsers: number,
  order: Int32Array,
  user: Int32Array,
  doc: Int32Array,
  time: Float64Array,
  action?: Int32Array,
  keep?: (event: number) => boolean,
): UserEvents {
  const offsets = new Int32Array(numUsers + 1);
  let kept = 0;
  for (let k = 0; k < order.length; k++) {
    const e = order[k];
    if (keep && !keep(e)) continue;
    offsets[user[e] + 1]++;
    kept++;
  }
  for (let u = 0; u < numUsers; u++) offsets[u + 1] += offsets[u];
  const at = offsets.slice(0, numUsers);
  const docs = new Int32Array(kept);
  const times = new Float64Array(kept);
  const actions = action ? new Int32Array(kept) : undefined;
  for (let k = 0; k < order.length; k++) {
    const e = order[k];
    if (keep && !keep(e)) continue;
    const j = at[user[e]]++;
    docs[j] = doc[e];
    times[j] = time[e];
    if (actions) actions[j] = action![e];
  }
  return { offsets, docs, times, actions };
}

/** First index in [lo, hi) whose time is >= t (events before it are strictly earlier). */
function lowerBound(times: Float64Array, lo: number, hi: number, t: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface SequenceOptions {
  name: string;
  maxLength: number;
  /** Add `age`: log(1 + hours between the event and the sample). */
  age: boolean;
  /** Add `action` from the events' actions. */
  action: boolean;
}

/** Largest number of history items one Arrow list column holds (int32 offsets). */
export const MAX_LIST_VALUES = 0x7fffffff;

/**
 * The history of each sample (user `users[i]` at time `times[i]`): the user's events with
 * time < times[i], the most recent `maxLength`, oldest first. Memory: 4 bytes per item,
 * plus 4 per item for each side info.
 */
export function buildSequence(events: UserEvents, users: Int32Array, times: Float64Array, options: SequenceOptions): SequenceColumns {
  const rows = users.length;
  const offsets = new Int32Array(rows + 1);
  const ends = new Int32Array(rows);
  let total = 0;
  for (let i = 0; i < rows; i++) {
    const u = users[i];
    const first = events.offsets[u];
    const end = lowerBound(events.times, first, events.offsets[u + 1], times[i]);
    ends[i] = end;
    total += Math.min(end - first, options.maxLength);
    if (total > MAX_LIST_VALUES)
      throw new LemurError(`history '${options.name}' would hold more than 2^31 items in one file; use fewer samples or a shorter maxLength`);
    offsets[i + 1] = total;
  }
  const values = new Int32Array(total);
  const age = options.age ? new Float32Array(total) : undefined;
  const action = options.action ? new Int32Array(total) : undefined;
  if (options.action && !events.actions) throw new LemurError(`history '${options.name}': events have no actions`);
  // Locals, and plain loops rather than set(subarray()): rows are short and many.
  const docs = events.docs;
  const evTimes = events.times;
  const evActions = events.actions;
  for (let i = 0; i < rows; i++) {
    const at = offsets[i];
    const n = offsets[i + 1] - at;
    const start = ends[i] - n;
    for (let k = 0; k < n; k++) values[at + k] = docs[start + k];
    if (action) for (let k = 0; k < n; k++) action[at + k] = evActions![start + k];
    if (age) {
      const t = times[i];
      // log(1 + x) rather than log1p: faster in V8, and x >= 1/3600 needs no log1p precision.
      for (let k = 0; k < n; k++) age[at + k] = Math.log(1 + (t - evTimes[start + k]) * (1 / 3600));
    }
  }
  const s: SequenceColumns = { name: options.name, offsets, values };
  if (age) s.age = age;
  if (action) s.action = action;
  return s;
}

/** For each sample, how many of the user's events lie strictly before its time (before any cap). */
export function countBefore(events: UserEvents, users: Int32Array, times: Float64Array): Int32Array {
  const out = new Int32Array(users.length);
  for (let i = 0; i < users.length; i++) {
    const first = events.offsets[users[i]];
    out[i] = lowerBound(events.times, first, events.offsets[users[i] + 1], times[i]) - first;
  }
  return out;
}
