// Which Python runs the server, how it is started, and what to tell the user when it
// cannot be. Pure: no `vscode` import, so node's test runner covers it.

export type InterpreterSource = 'setting' | 'python-extension' | 'default';

export interface Interpreter {
  command: string;
  source: InterpreterSource;
}

export const DEFAULT_INTERPRETER = 'python3';

export interface VariableContext {
  workspaceFolder?: string;
  userHome?: string;
  env?: Record<string, string | undefined>;
}

/** Expands what users write in settings: `${workspaceFolder}`, `${userHome}`, `~/`, `${env:NAME}`. */
export function expandVariables(value: string, ctx: VariableContext): string {
  let out = value.replace(/\$\{(workspaceFolder|userHome|env:([A-Za-z_][A-Za-z0-9_]*))\}/g, (whole, name: string, envName?: string) => {
    if (envName !== undefined) return ctx.env?.[envName] ?? '';
    if (name === 'workspaceFolder') return ctx.workspaceFolder ?? whole;
    return ctx.userHome ?? whole;
  });
  if (ctx.userHome && (out === '~' || out.startsWith('~/'))) out = ctx.userHome + out.slice(1);
  return out;
}

/** The setting wins, then the Python extension's active interpreter, then `python3`. */
export function chooseInterpreter(
  setting: string | undefined,
  pythonExtensionInterpreter: string | undefined,
  ctx: VariableContext = {},
): Interpreter {
  const fromSetting = (setting ?? '').trim();
  if (fromSetting) return { command: expandVariables(fromSetting, ctx), source: 'setting' };
  const fromExtension = (pythonExtensionInterpreter ?? '').trim();
  if (fromExtension) return { command: fromExtension, source: 'python-extension' };
  return { command: DEFAULT_INTERPRETER, source: 'default' };
}

/** Arguments after the interpreter: `-m ml_lsp serve` plus the user's extras. */
export function serverArgs(logFile: string | undefined, extra: readonly string[] = []): string[] {
  const args = ['-m', 'ml_lsp', 'serve'];
  if (logFile && !extra.includes('--log-file')) args.push('--log-file', logFile);
  return args.concat(extra);
}

/** What the import probe runs: prints the version, or fails with ModuleNotFoundError. It
 * drops the working folder ('' with -c) from sys.path first, wherever it is started. */
export const IMPORT_PROBE_ARGS = ['-c', 'import sys; sys.path[:] = [p for p in sys.path if p]; import ml_lsp; sys.stdout.write(ml_lsp.__version__)'];

/** Quote for a POSIX shell or PowerShell/cmd, only when needed. */
export function shellQuote(arg: string, platform: string = process.platform): string {
  if (/^[A-Za-z0-9_./:=@%+,-]+$/.test(arg)) return arg;
  if (platform === 'win32') return `"${arg.replace(/"/g, '\\"')}"`;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The exact command that installs the server into this interpreter. */
export function pipInstallCommand(interpreter: string, platform: string = process.platform): string {
  const exe = shellQuote(interpreter, platform);
  // PowerShell needs the call operator to run a quoted path.
  const prefix = platform === 'win32' && exe.startsWith('"') ? '& ' : '';
  return `${prefix}${exe} -m pip install -U ml-lsp`;
}

export type ProbeOutcome =
  | { kind: 'ok'; version: string }
  | { kind: 'missing-interpreter'; message: string }
  | { kind: 'not-installed'; message: string; installCommand: string }
  | { kind: 'broken'; message: string };

export interface ProbeResult {
  /** errno-style code when the process could not start ('ENOENT', 'EACCES'), else undefined */
  spawnError?: string;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut?: boolean;
}

/** Turns the import probe's result into what the user is told. */
export function classifyProbe(interpreter: Interpreter, result: ProbeResult, platform: string = process.platform): ProbeOutcome {
  const exe = interpreter.command;
  const where = interpreter.source === 'setting' ? ' (setting mlLsp.interpreter)'
    : interpreter.source === 'python-extension' ? " (the Python extension's active interpreter)" : '';
  if (result.spawnError === 'ENOENT') {
    return { kind: 'missing-interpreter', message: `ml-lsp: Python interpreter '${exe}'${where} was not found. Set "mlLsp.interpreter" to a Python 3.10+ that has ml-lsp installed.` };
  }
  if (result.spawnError) {
    return { kind: 'missing-interpreter', message: `ml-lsp: cannot start '${exe}'${where}: ${result.spawnError}. Set "mlLsp.interpreter" to a Python 3.10+ executable.` };
  }
  if (result.timedOut) {
    return { kind: 'broken', message: `ml-lsp: '${exe} -c "import ml_lsp"' did not finish; the interpreter may be hanging. Check it in a terminal.` };
  }
  if (result.exitCode === 0) return { kind: 'ok', version: result.stdout.trim() };
  if (/ModuleNotFoundError: No module named '?ml_lsp'?/.test(result.stderr)) {
    const installCommand = pipInstallCommand(exe, platform);
    return { kind: 'not-installed', installCommand, message: `ml-lsp is not installed for ${exe}${where}. Install it with: ${installCommand}` };
  }
  const lastLine = result.stderr.trim().split(/\r?\n/).pop() ?? '';
  return { kind: 'broken', message: `ml-lsp: '${exe}' could not import ml_lsp: ${lastLine || `exit code ${result.exitCode}`}. See "ml-lsp: Show ml-lsp log".` };
}
