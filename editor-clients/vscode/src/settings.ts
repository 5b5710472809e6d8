// The settings the server reads, as VS Code contributes them (`mlLsp.*`), turned into the
// `initializationOptions` / `workspace/didChangeConfiguration` payload. Pure: no `vscode`.

/** Every server setting this extension contributes, by its VS Code key (under `mlLsp.`). */
export const SERVER_SETTING_KEYS = [
  'select', 'ignore', 'inlayHints.shapes', 'inlayHints.metrics', 'runsDir', 'devices',
  'trust', 'inputs', 'traceOnSave', 'logLevel',
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
};

export const DEFAULT_SERVER_SETTINGS: ServerSettings = {
  select: [], ignore: [], inlayHints: { shapes: true, metrics: true }, runsDir: '.ml-lsp/runs',
  devices: 'auto', trust: 'ask', inputs: {}, traceOnSave: false, logLevel: 'info',
};

const TRUST = ['ask', 'trusted', 'untrusted'] as const;
const LEVELS = ['debug', 'info', 'warning', 'error'] as const;

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

/**
 * Builds the payload from a getter over `mlLsp.*` (VS Code's `WorkspaceConfiguration.get`).
 * Values of the wrong type fall back to the default rather than reaching the server.
 * Workspace Trust decides `trust` (see `trustFor`).
 */
export function serverSettings(get: (key: string) => unknown, workspaceTrusted: boolean): ServerSettings {
  const d = DEFAULT_SERVER_SETTINGS;
  const bool = (key: string, fallback: boolean) => { const v = get(key); return typeof v === 'boolean' ? v : fallback; };
  const str = (key: string, fallback: string) => { const v = get(key); return typeof v === 'string' && v.trim() ? v.trim() : fallback; };
  return {
    select: stringList(get('select'), d.select),
    ignore: stringList(get('ignore'), d.ignore),
    inlayHints: { shapes: bool('inlayHints.shapes', d.inlayHints.shapes), metrics: bool('inlayHints.metrics', d.inlayHints.metrics) },
    runsDir: str('runsDir', d.runsDir),
    devices: str('devices', d.devices),
    trust: trustFor(oneOf(get('trust'), TRUST, d.trust), workspaceTrusted),
    inputs: inputsTable(get('inputs')),
    traceOnSave: workspaceTrusted && bool('traceOnSave', d.traceOnSave),
    logLevel: oneOf(get('logLevel'), LEVELS, d.logLevel),
  };
}

/**
 * VS Code's Workspace Trust has already asked the user whether this folder's code may run,
 * so "ask" becomes its answer (no second prompt from the server); an explicit "untrusted"
 * setting still wins in a trusted folder.
 */
export function trustFor(setting: ServerSettings['trust'], workspaceTrusted: boolean): ServerSettings['trust'] {
  if (!workspaceTrusted) return 'untrusted';
  return setting === 'ask' ? 'trusted' : setting;
}

/** Which reaction a configuration change needs, given `affects(key)` over `mlLsp.*` keys. */
export function configurationReaction(affects: (key: string) => boolean): 'restart' | 'notify' | 'none' {
  if (RESTART_SETTING_KEYS.some(k => affects(k))) return 'restart';
  if (SERVER_SETTING_KEYS.some(k => affects(k))) return 'notify';
  return 'none';
}
