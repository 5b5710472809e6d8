// What the status bar shows, from the server's `$/progress` (work done progress).
// Pure: no `vscode` import. Several tasks may be in flight; the most recent one is shown.

export interface ProgressValue {
  kind: 'begin' | 'report' | 'end';
  title?: string;
  message?: string;
  percentage?: number;
  cancellable?: boolean;
}

export interface Task {
  token: string;
  title: string;
  message: string;
  percentage?: number;
  started: number;
}

export class ProgressBoard {
  private tasks = new Map<string, Task>();
  private order: string[] = [];

  apply(token: string | number, value: ProgressValue, now: number = Date.now()): void {
    const key = String(token);
    if (value.kind === 'end') {
      this.tasks.delete(key);
      this.order = this.order.filter(t => t !== key);
      return;
    }
    const task = this.tasks.get(key) ?? { token: key, title: '', message: '', started: now };
    if (value.kind === 'begin') {
      task.title = value.title ?? task.title;
      this.order = this.order.filter(t => t !== key).concat(key);
    }
    if (value.message !== undefined) task.message = value.message;
    if (typeof value.percentage === 'number') task.percentage = Math.max(0, Math.min(100, value.percentage));
    this.tasks.set(key, task);
    if (!this.order.includes(key)) this.order.push(key);
  }

  /** The task the status bar shows: the most recently begun one still running. */
  current(): Task | undefined {
    const key = this.order[this.order.length - 1];
    return key === undefined ? undefined : this.tasks.get(key);
  }

  get size(): number { return this.tasks.size; }
}

/** `$(sync~spin) train.py 40% · epoch 2/5 loss 0.41 (+1)` */
export function statusText(task: Task | undefined, others: number): string {
  if (!task) return '';
  const parts = ['$(sync~spin)', task.title || 'ml-lsp'];
  if (typeof task.percentage === 'number') parts.push(`${Math.round(task.percentage)}%`);
  let text = parts.join(' ');
  if (task.message) text += ` · ${task.message}`;
  if (others > 0) text += ` (+${others})`;
  return text.length > 90 ? text.slice(0, 89) + '…' : text;
}

/**
 * A run id carried by a progress token or a command's answer. ml-lsp names run progress
 * tokens `ml-lsp-run-<id>` (also accepted: `run/<id>`, `run:<id>`); commands answer
 * `{runId}` (also `{run_id}`, `{id}`).
 */
export function runIdOf(value: unknown): string | undefined {
  if (typeof value === 'string') {
    const m = /(?:^|[/:-])run[/:-]([A-Za-z0-9_.][A-Za-z0-9_.\-]*)$/.exec(value);
    return m ? m[1] : undefined;
  }
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    for (const key of ['run_id', 'runId', 'id']) {
      if (typeof o[key] === 'string' && o[key]) return o[key] as string;
    }
    if (o.run && typeof o.run === 'object') return runIdOf(o.run);
  }
  return undefined;
}

export interface RunListing {
  id: string;
  script?: string;
  state?: string;
  started?: number | null;
  ended?: number | null;
}

/** Parses `ml-lsp runs --json` (`{"runs": [...]}`, newest first); bad input gives []. */
export function parseRunList(stdout: string): RunListing[] {
  try {
    const data = JSON.parse(stdout) as { runs?: unknown };
    if (!Array.isArray(data.runs)) return [];
    return data.runs.filter((r): r is RunListing => !!r && typeof r === 'object' && typeof (r as RunListing).id === 'string');
  } catch {
    return [];
  }
}

export const ACTIVE_STATES = new Set(['queued', 'starting', 'running']);

/** Quick-pick rows: `$(sync~spin) train.py  running · 20260101-120000-train`. */
export function runPickItems(runs: RunListing[], onlyActive: boolean): { label: string; description: string; runId: string }[] {
  return runs
    .filter(r => !onlyActive || ACTIVE_STATES.has(r.state ?? ''))
    .map(r => {
      const icon = ACTIVE_STATES.has(r.state ?? '') ? '$(sync~spin)' : r.state === 'succeeded' ? '$(pass)' : r.state === 'failed' || r.state === 'lost' ? '$(error)' : '$(circle-slash)';
      const script = (r.script ?? '').split(/[\\/]/).pop() || r.id;
      return { label: `${icon} ${script}`, description: `${r.state ?? '?'} · ${r.id}`, runId: r.id };
    });
}
