// The settings the server reads, as VS Code contributes them (`mlLsp.*`), turned into the
// `initializationOptions` / `workspace/didChangeConfiguration` payload. Pure: no `vscode`.

/** Every server setting this extension contributes, by its VS Code key (under `mlLsp.`). */
export const SERVER_SETTING_KEYS = [
  'select', 'ignore', 'inlayHints.shapes', 'inlayHints.metrics', 'runsDir', 'devices',
  'trust', 'inputs', 'traceOnSave', 'logLevel', 'runNotifications',
] as const;

/** Settings that change how the process is started: changing them restarts the server. */
export const RESTART_SETTING_KEYS = ['interpreter', 'serverArgs'] as const;

export type ServerSettings = {
  select: string[];
  ignore: string[];
  inlayHints: { shapes: boolean; metrics: boolean };
  runsDir: string;
  devices: string;
  trust: 'ask' | 'trusted' | 'untrusted';
  inputs: Record<string, Record<string, string>>;
  traceOnSave: boolean;
  logLevel: 'debug' | 'info' | 'warning' | 'error';
  runNotifications: 'actions' | 'message' | 'off';
};

export const DEFAULT_SERVER_SETTINGS: ServerSettings = {
  select: [], ignore: [], inlayHints: { shapes: true, metrics: true }, runsDir: '.ml-lsp/runs',
  devices: 'auto', trust: 'ask', inputs: {}, traceOnSave: false, logLevel: 'info',
  runNotifications: 'actions',
};

const TRUST = ['ask', 'trusted', 'untrusted'] as const;
const LEVELS = ['debug', 'info', 'warning', 'error'] as const;
const NOTIFICATIONS = ['actions', 'message', 'off'] as const;

function stringList(value: unknown, fallback: string[]): string[] {
  if (typeof value === 'string') return value.split(',').map(s => s.trim()).filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string').map(s => s.trim()).filter(Boolean);
  return fallback;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: T): T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value) ? value as T : fallback;
}

function inputsTable(value: unknown): Record<string, Record<string, string>> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  const out: Record<string, Record<string, string>> = {};
  for (const [entry, params] of Object.entries(value as Record<string, unknown>)) {
    if (!params || typeof params !== 'object' || Array.isArray(params)) continue;
    const kept: Record<string, string> = {};
    for (const [name, shape] of Object.entries(params as Record<string, unknown>)) {
      if (typeof shape === 'string') kept[name] = shape;
    }
    out[entry] = kept;
  }
  return out;
}

/** What VS Code decided about this folder: trusted, untrusted (Restricted Mode), or nothing
 * because the user turned Workspace Trust off (`security.workspace.trust.enabled: false`). */
export type EditorTrust = 'trusted' | 'untrusted' | 'undecided';

/** A setting's values per scope, as `WorkspaceConfiguration.inspect` returns them. */
export interface Inspected {
  defaultValue?: unknown;
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/**
 * Settings that decide whether and where the workspace's code runs. A cloned repository
 * ships its own `.vscode/settings.json`, so for these the workspace's value may only lower
 * the user's (trust down, trace on save off, the runs folder inside the workspace); the
 * user's own (global) value or the default otherwise. The server applies the same rule to
 * the repository's `pyproject.toml`.
 */
export const GUARDED_KEYS = ['trust', 'traceOnSave', 'runsDir'] as const;

const TRUST_RANK: Record<string, number> = { untrusted: 0, ask: 1, trusted: 2 };

/** A relative path that stays inside the workspace (no `..` out of it, no `~`). */
export function insideWorkspace(value: unknown): boolean {
  if (typeof value !== 'string' || !value.trim() || value.startsWith('~') || /^([A-Za-z]:)?[\\/]/.test(value)) return false;
  let depth = 0;
  for (const part of value.split(/[\\/]+/)) {
    if (part === '..') depth -= 1;
    else if (part && part !== '.') depth += 1;
    if (depth < 0) return false;
  }
  return true;
}

export function guardedValue(key: typeof GUARDED_KEYS[number], inspected: Inspected | undefined): unknown {
  const user = inspected?.globalValue ?? inspected?.defaultValue;
  const workspace = inspected?.workspaceFolderValue ?? inspected?.workspaceValue;
  if (workspace === undefined) return user;
  switch (key) {
    case 'trust':
      return typeof workspace === 'string' && workspace in TRUST_RANK
        && TRUST_RANK[workspace] <= (TRUST_RANK[String(user)] ?? TRUST_RANK.ask) ? workspace : user;
    case 'traceOnSave':
      return workspace === false ? false : user;
    case 'runsDir':
      return insideWorkspace(workspace) ? workspace : user;
  }
}

/**
 * Builds the payload from a getter over `mlLsp.*` (VS Code's `WorkspaceConfiguration.get`,
 * with `guardedValue` for the GUARDED_KEYS). Values of the wrong type fall back to the
 * default rather than reaching the server. Workspace Trust decides `trust` (see `trustFor`).
 */
export function serverSettings(get: (key: string) => unknown, editorTrust: EditorTrust): ServerSettings {
  const d = DEFAULT_SERVER_SETTINGS;
  const bool = (key: string, fallback: boolean) => { const v = get(key); return typeof v === 'boolean' ? v : fallback; };
  const str = (key: string, fallback: string) => { const v = get(key); return typeof v === 'string' && v.trim() ? v.trim() : fallback; };
  return {
    select: stringList(get('select'), d.select),
    ignore: stringList(get('ignore'), d.ignore),
    inlayHints: { shapes: bool('inlayHints.shapes', d.inlayHints.shapes), metrics: bool('inlayHints.metrics', d.inlayHints.metrics) },
    runsDir: str('runsDir', d.runsDir),
    devices: str('devices', d.devices),
    trust: trustFor(oneOf(get('trust'), TRUST, d.trust), editorTrust),
    inputs: inputsTable(get('inputs')),
    traceOnSave: editorTrust !== 'untrusted' && bool('traceOnSave', d.traceOnSave),
    logLevel: oneOf(get('logLevel'), LEVELS, d.logLevel),
    runNotifications: oneOf(get('runNotifications'), NOTIFICATIONS, d.runNotifications),
  };
}

/**
 * VS Code's Workspace Trust has already asked the user whether this folder's code may run,
 * so "ask" becomes its answer (no second prompt from the server); an explicit "untrusted"
 * setting still wins in a trusted folder. With Workspace Trust turned off VS Code has not
 * asked, so the setting goes through as it is and the server asks ("ask").
 */
export function trustFor(setting: ServerSettings['trust'], editorTrust: EditorTrust): ServerSettings['trust'] {
  if (editorTrust === 'untrusted') return 'untrusted';
  if (editorTrust === 'undecided') return setting;
  return setting === 'ask' ? 'trusted' : setting;
}

/** Which reaction a configuration change needs, given `affects(key)` over `mlLsp.*` keys. */
export function configurationReaction(affects: (key: string) => boolean): 'restart' | 'notify' | 'none' {
  if (RESTART_SETTING_KEYS.some(k => affects(k))) return 'restart';
  if (SERVER_SETTING_KEYS.some(k => affects(k))) return 'notify';
  return 'none';
}
