// The ml-lsp VS Code extension: starts `python -m ml_lsp serve` with the user's interpreter
// through vscode-languageclient, forwards settings, maps the server's run/fine-tune/trace
// commands onto VS Code commands, and shows running jobs ($/progress) in the status bar.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  DidChangeConfigurationNotification, ExecuteCommandRequest, LanguageClient, LanguageClientOptions,
  ServerOptions, State, WorkDoneProgress, WorkDoneProgressCreateRequest,
} from 'vscode-languageclient/node';
import { chooseInterpreter, classifyProbe, IMPORT_PROBE_ARGS, Interpreter, ProbeResult, serverArgs } from './interpreter';
import { parseRunList, ProgressBoard, ProgressValue, runIdOf, runPickItems, statusText } from './progress';
import { configurationReaction, EditorTrust, GUARDED_KEYS, guardedValue, serverSettings } from './settings';
import { askFinetuneInputs } from './finetune';
import { needsInputs } from './finetuneInputs';

/** Server commands that execute the workspace's code: refused in an untrusted workspace. */
export const CODE_RUNNING_COMMANDS = new Set([
  'ml-lsp.run', 'ml-lsp.rerun', 'ml-lsp.finetune', 'ml-lsp.fineTune', 'ml-lsp.resume', 'ml-lsp.traceShapes',
]);

const UNTRUSTED_MESSAGE = 'ml-lsp: running, fine-tuning and tracing execute this workspace\'s code, so they are disabled until you trust the workspace. Shapes, hovers and diagnostics keep working.';

let client: LanguageClient | undefined;
let output: vscode.OutputChannel;
let statusJob: vscode.StatusBarItem;
let statusStop: vscode.StatusBarItem;
let serverLogFile: string | undefined;
let starting: Promise<void> | undefined;
let lastRunId: string | undefined;
let lastInterpreter: Interpreter | undefined;
let statusRunId: string | undefined;  // the run the status bar items act on
let neutralFolder: string | undefined;  // the working folder of every process we start
let workspaceState: vscode.Memento | undefined;  // VS Code's own storage for this folder (not the repository's)
const CHOSEN_INTERPRETER = 'mlLsp.chosenInterpreter';
const board = new ProgressBoard();
const progressSubscriptions = new Map<string, vscode.Disposable>();

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration('mlLsp');
}

function editorTrust(): EditorTrust {
  if (!vscode.workspace.isTrusted) return 'untrusted';
  // With Workspace Trust turned off every folder reads as trusted, though nobody was asked.
  const enabled = vscode.workspace.getConfiguration('security').get<boolean>('workspace.trust.enabled');
  return enabled === false ? 'undecided' : 'trusted';
}

function currentSettings() {
  const cfg = config();
  const guarded = new Set<string>(GUARDED_KEYS);
  return serverSettings(
    key => guarded.has(key) ? guardedValue(key as typeof GUARDED_KEYS[number], cfg.inspect(key)) : cfg.get(key),
    editorTrust());
}

/** Not the workspace: Python puts the working folder first on sys.path, so a cloned
 * repository's tokenize.py or ml_lsp/ would be imported by the probe and the server. */
function workingFolder(context: vscode.ExtensionContext): string {
  if (!neutralFolder) {
    neutralFolder = path.join(context.globalStorageUri.fsPath, 'cwd');
    fs.mkdirSync(neutralFolder, { recursive: true, mode: 0o700 });
  }
  return neutralFolder;
}

function workspaceRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

// The Python extension (ms-python.python) exposes its active interpreter through its
// `environments` API; older releases only through `settings.getExecutionDetails`.
interface PythonApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { id: string; path: string } | undefined;
    resolveEnvironment(env: { id: string; path: string } | string): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
  settings?: {
    getExecutionDetails?(resource?: vscode.Uri): { execCommand?: string[] };
    onDidChangeExecutionDetails?: vscode.Event<unknown>;
  };
}

async function pythonApi(): Promise<PythonApi | undefined> {
  const ext = vscode.extensions.getExtension<PythonApi>('ms-python.python');
  if (!ext) return undefined;
  try {
    return ext.isActive ? ext.exports : await ext.activate();
  } catch (err) {
    output.appendLine(`[client] Python extension did not activate: ${err}`);
    return undefined;
  }
}

async function pythonExtensionInterpreter(): Promise<string | undefined> {
  const api = await pythonApi();
  const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
  try {
    const envPath = api?.environments?.getActiveEnvironmentPath(resource);
    if (envPath) {
      const env = await api!.environments!.resolveEnvironment(envPath);
      return env?.executable?.uri?.fsPath ?? envPath.path;
    }
    return api?.settings?.getExecutionDetails?.(resource)?.execCommand?.[0];
  } catch (err) {
    output.appendLine(`[client] could not read the Python extension's interpreter: ${err}`);
    return undefined;
  }
}

/** `mlLsp.interpreter` names a program to run: a workspace's own value counts only where the
 * user trusted the folder in VS Code. Elsewhere (Restricted Mode, or Workspace Trust turned
 * off) it is the interpreter the user picked for this folder with "Choose interpreter"
 * (kept in VS Code's storage, not the repository), else the user's own setting. */
function interpreterSetting(): string | undefined {
  if (editorTrust() === 'trusted') return config().get<string>('interpreter');
  const value = workspaceState?.get<string>(CHOSEN_INTERPRETER) ?? config().inspect<string>('interpreter')?.globalValue;
  return typeof value === 'string' ? value : undefined;
}

async function resolveInterpreter(): Promise<Interpreter> {
  const setting = interpreterSetting();
  const fromExtension = setting?.trim() ? undefined : await pythonExtensionInterpreter();
  return chooseInterpreter(setting, fromExtension, {
    workspaceFolder: workspaceRoot(), userHome: os.homedir(), env: process.env,
  });
}

function probe(interpreter: Interpreter, cwd: string): Promise<ProbeResult> {
  return new Promise(resolve => {
    execFile(interpreter.command, IMPORT_PROBE_ARGS, { timeout: 30000, cwd }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: string | number }) | null;
      resolve({
        spawnError: e && typeof e.code === 'string' ? e.code : undefined,
        exitCode: e ? (typeof e.code === 'number' ? e.code : 1) : 0,
        stdout: String(stdout), stderr: String(stderr), timedOut: !!e?.killed,
      });
    });
  });
}

let serverStarts = 0;

async function startServer(context: vscode.ExtensionContext): Promise<void> {
  const interpreter = await resolveInterpreter();
  output.appendLine(`[client] interpreter: ${interpreter.command} (from ${interpreter.source})`);
  const cwd = workingFolder(context);
  const outcome = classifyProbe(interpreter, await probe(interpreter, cwd));
  if (outcome.kind !== 'ok') {
    output.appendLine(`[client] ${outcome.message}`);
    void offerFix(outcome.message, outcome.kind === 'not-installed' ? outcome.installCommand : undefined, interpreter);
    return;
  }
  // numbered, so a restart is visible in the log even once earlier lines have scrolled away
  serverStarts += 1;
  output.appendLine(`[client] ml-lsp ${outcome.version} (server start ${serverStarts} in this window)`);
  lastInterpreter = interpreter;

  fs.mkdirSync(context.logUri.fsPath, { recursive: true });
  serverLogFile = path.join(context.logUri.fsPath, 'server.log');
  const extra = (editorTrust() === 'undecided' ? config().inspect<string[]>('serverArgs')?.globalValue
    : config().get<string[]>('serverArgs')) ?? [];
  const serverOptions: ServerOptions = {
    command: interpreter.command,
    args: serverArgs(serverLogFile, extra),
    options: { cwd, env: { ...process.env, PYTHONUNBUFFERED: '1' } },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file', language: 'python' }, { scheme: 'untitled', language: 'python' }],
    initializationOptions: currentSettings(),
    outputChannel: output,
    middleware: {
      // The server asks for section "ml-lsp" when it wants settings pulled: answer with the
      // same payload as initializationOptions (trust folded in), not VS Code's raw section.
      workspace: {
        configuration: (params, token, next) => {
          const ours = (section?: string) => section === 'ml-lsp' || section === 'mlLsp';
          if (!params.items.some(item => ours(item.section))) return next(params, token);
          return params.items.map(item => ours(item.section) ? currentSettings() : null);
        },
      },
      // Code lenses and code actions name server commands directly (`ml-lsp.run`...):
      // refuse those that run code in an untrusted workspace, and remember the run they start.
      executeCommand: async (command, args, next) => {
        if (CODE_RUNNING_COMMANDS.has(command) && !vscode.workspace.isTrusted) {
          void vscode.window.showWarningMessage(UNTRUSTED_MESSAGE, 'Manage Workspace Trust')
            .then(pick => pick && vscode.commands.executeCommand('workbench.trust.manage'));
          return undefined;
        }
        if (command === 'ml-lsp.run' || command === 'ml-lsp.rerun') await saveDocumentOf(args[0]);
        // "Fine-tune from checkpoint…" comes without checkpoint and data: ask with quick
        // picks here (the server would fall back to showMessageRequest buttons).
        if (command === 'ml-lsp.finetune' && needsInputs(args[0])) {
          const inputs = await askFinetuneInputs(args[0], vscode.window.activeTextEditor, finetuneCandidates);
          if (!inputs) return undefined;
          args = [inputs];
        }
        const result = await next(command, args);
        lastRunId = runIdOf(result) ?? lastRunId;
        return result;
      },
    },
  };
  client = new LanguageClient('ml-lsp', 'ml-lsp', serverOptions, clientOptions);
  client.onDidChangeState(e => {
    if (e.newState === State.Stopped) clearProgress();
  });
  await client.start();
  watchProgress(client);
}

async function offerFix(message: string, installCommand: string | undefined, interpreter: Interpreter): Promise<void> {
  const actions = installCommand ? ['Install in terminal', 'Copy command', 'Choose interpreter'] : ['Choose interpreter', 'Show log'];
  const pick = await vscode.window.showErrorMessage(message, ...actions);
  if (pick === 'Install in terminal' && installCommand) {
    const term = vscode.window.createTerminal('ml-lsp install');
    term.show();
    term.sendText(installCommand);
  } else if (pick === 'Copy command' && installCommand) {
    await vscode.env.clipboard.writeText(installCommand);
  } else if (pick === 'Choose interpreter') {
    const chosen = await vscode.window.showInputBox({
      prompt: 'Path of the Python interpreter that has ml-lsp installed',
      value: interpreter.command,
    });
    if (!chosen) return;
    if (editorTrust() === 'trusted') {
      await config().update('interpreter', chosen, vscode.ConfigurationTarget.Workspace);
    } else {  // a workspace setting would not be used here (see interpreterSetting)
      await workspaceState?.update(CHOSEN_INTERPRETER, chosen);
      void restartServer(extensionContext!);
    }
  } else if (pick === 'Show log') {
    output.show(true);
  }
}

async function stopServer(): Promise<void> {
  const c = client;
  client = undefined;
  clearProgress();
  if (c && c.state !== State.Stopped) {
    try { await c.stop(); } catch (err) { output.appendLine(`[client] stop: ${err}`); }
  }
}

async function restartServer(context: vscode.ExtensionContext): Promise<void> {
  // Serialise: a restart asked for while one is under way waits for it.
  const previous = starting ?? Promise.resolve();
  starting = previous.then(async () => {
    await stopServer();
    await startServer(context);
  }).catch(err => {
    output.appendLine(`[client] start failed: ${err}`);
    void vscode.window.showErrorMessage(`ml-lsp could not start: ${err}`, 'Show log')
      .then(p => p && showLog());
  });
  return starting;
}

function pushSettings(): void {
  if (client?.state === State.Running) {
    void client.sendNotification(DidChangeConfigurationNotification.type, { settings: { 'ml-lsp': currentSettings() } });
  }
}

// ---- progress -> status bar -------------------------------------------------------------

// Replaces vscode-languageclient's own handler for window/workDoneProgress/create so the
// same $/progress drives the status bar (one place for running jobs) instead of toasts.
function watchProgress(c: LanguageClient): void {
  c.onRequest(WorkDoneProgressCreateRequest.type, params => {
    const token = String(params.token);
    progressSubscriptions.get(token)?.dispose();
    progressSubscriptions.set(token, c.onProgress(WorkDoneProgress.type, params.token, value => {
      board.apply(token, value as ProgressValue);
      const id = runIdOf(token);
      if (id && value.kind === 'begin') lastRunId = id;
      if (value.kind === 'end') {
        progressSubscriptions.get(token)?.dispose();
        progressSubscriptions.delete(token);
      }
      renderStatus();
    }));
    return null;
  });
}

function clearProgress(): void {
  for (const d of progressSubscriptions.values()) d.dispose();
  progressSubscriptions.clear();
  for (let t = board.current(); t; t = board.current()) board.apply(t.token, { kind: 'end' });
  renderStatus();
}

function renderStatus(): void {
  const task = board.current();
  if (!task) {
    statusJob.hide();
    statusStop.hide();
    return;
  }
  const runId = runIdOf(task.token);
  statusRunId = runId;
  statusJob.text = statusText(task, board.size - 1);
  statusJob.accessibilityInformation = { label: `ml-lsp job: ${task.title} ${task.message}`.trim() };
  statusJob.tooltip = runId ? `ml-lsp run ${runId}: click to open it` : task.title;
  statusJob.show();
  if (runId) {
    statusStop.tooltip = `Stop ml-lsp run ${runId}`;
    statusStop.accessibilityInformation = { label: `ml-lsp stop run ${runId}` };
    statusStop.show();
  } else {
    statusStop.hide();
  }
}

// ---- commands -----------------------------------------------------------------------------

async function saveDocumentOf(arg: unknown): Promise<void> {
  // ml-lsp.run takes [{uri, args}]; the job runs the file on disk, so save it first
  const target = typeof arg === 'string' ? arg : (arg as { uri?: string } | undefined)?.uri;
  const doc = vscode.workspace.textDocuments.find(d => d.uri.toString() === target);
  if (doc?.isDirty) await doc.save();
}

function activePythonUri(arg: unknown): vscode.Uri | undefined {
  if (arg instanceof vscode.Uri) return arg;
  const doc = vscode.window.activeTextEditor?.document;
  return doc && doc.languageId === 'python' ? doc.uri : undefined;
}

async function server(command: string, ...args: unknown[]): Promise<unknown> {
  if (!client || client.state !== State.Running) {
    void vscode.window.showErrorMessage('ml-lsp is not running. Run "ml-lsp: Restart ml-lsp" or see "Show ml-lsp log".');
    return undefined;
  }
  if (CODE_RUNNING_COMMANDS.has(command) && !vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage(UNTRUSTED_MESSAGE, 'Manage Workspace Trust')
      .then(pick => pick && vscode.commands.executeCommand('workbench.trust.manage'));
    return undefined;
  }
  try {
    const result = await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
    lastRunId = runIdOf(result) ?? lastRunId;
    return result;
  } catch (err) {
    void vscode.window.showErrorMessage(`ml-lsp: ${command} failed: ${(err as Error).message ?? err}`);
    return undefined;
  }
}

// What the fine-tune picks offer: the server's lists (empty when it cannot answer; the
// pick still offers Browse…).
async function finetuneCandidates(kind: 'checkpoint' | 'data', framework?: 'torch' | 'keras'): Promise<string[]> {
  if (!client || client.state !== State.Running) return [];
  try {
    const result = await client.sendRequest(ExecuteCommandRequest.type, { command: 'ml-lsp.finetuneCandidates', arguments: [framework ? { kind, framework } : { kind }] });
    const listed = (result as { candidates?: unknown } | undefined)?.candidates;
    return Array.isArray(listed) ? listed.filter((p): p is string => typeof p === 'string') : [];
  } catch (err) {
    output.appendLine(`[client] fine-tune candidates: ${(err as Error).message ?? err}`);
    return [];
  }
}

// Lists runs with the CLI (`ml-lsp runs --json`, same interpreter): the run folders are the
// truth, so this also shows runs started from a terminal or another editor.
function listRuns(): Promise<string> {
  const interp = lastInterpreter?.command ?? 'python3';
  const configured = currentSettings().runsDir;
  const root = workspaceRoot();
  const runsDir = path.isAbsolute(configured) || !root ? configured : path.join(root, configured);
  if (!neutralFolder) return Promise.resolve('');  // the server never started
  return new Promise(resolve => execFile(interp, ['-m', 'ml_lsp', 'runs', '--json', '--runs-dir', runsDir],
    { cwd: neutralFolder, timeout: 30000 }, (_err, stdout) => resolve(String(stdout ?? ''))));
}

async function pickRun(title: string, onlyActive: boolean): Promise<string | undefined> {
  const items = runPickItems(parseRunList(await listRuns()), onlyActive);
  if (!items.length) {
    void vscode.window.showInformationMessage(onlyActive ? 'ml-lsp: no run is running.' : 'ml-lsp: no runs yet in this workspace.');
    return undefined;
  }
  return (await vscode.window.showQuickPick(items, { title, matchOnDescription: true }))?.runId;
}

function showLog(): void {
  output.show(true);
  if (serverLogFile && fs.existsSync(serverLogFile)) {
    void vscode.window.showTextDocument(vscode.Uri.file(serverLogFile), { preview: true, preserveFocus: true });
  }
}

function registerCommands(context: vscode.ExtensionContext): void {
  const reg = (id: string, fn: (...args: any[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  reg('mlLsp.restart', () => restartServer(context));
  reg('mlLsp.statusOpenRun', () => statusRunId ? server('ml-lsp.showRun', { runId: statusRunId }) : undefined);
  reg('mlLsp.statusStopRun', () => statusRunId ? server('ml-lsp.stop', { runId: statusRunId }) : undefined);
  reg('mlLsp.showLog', showLog);
  reg('mlLsp.untrust', () => server('ml-lsp.untrust'));
  reg('mlLsp.run', async (arg?: unknown) => {
    const uri = activePythonUri(arg);
    if (!uri) return vscode.window.showWarningMessage('ml-lsp: open the Python training script to run.');
    await saveDocumentOf(uri.toString());
    return server('ml-lsp.run', { uri: uri.toString(), args: [] });
  });
  reg('mlLsp.stop', async (arg?: unknown) => {
    const id = typeof arg === 'string' ? arg : runIdOf(arg) ?? await pickRun('Stop which run?', true);
    return id ? server('ml-lsp.stop', { runId: id }) : undefined;
  });
  reg('mlLsp.rerun', async (arg?: unknown) => {
    const id = typeof arg === 'string' ? arg : runIdOf(arg) ?? lastRunId ?? await pickRun('Rerun which run?', false);
    return id ? server('ml-lsp.rerun', { runId: id }) : undefined;
  });
  reg('mlLsp.showRuns', async (arg?: unknown) => {
    const id = typeof arg === 'string' ? arg : runIdOf(arg) ?? await pickRun('Open which run?', false);
    return id ? server('ml-lsp.showRun', { runId: id }) : undefined;
  });
  reg('mlLsp.traceShapes', async (arg?: unknown) => {
    const uri = activePythonUri(arg);
    if (!uri) return vscode.window.showWarningMessage('ml-lsp: open a Python model file to trace.');
    return server('ml-lsp.traceShapes', { uri: uri.toString() });
  });
  reg('mlLsp.finetune', async (arg?: unknown) => {
    if (!vscode.workspace.isTrusted) return server('ml-lsp.finetune');  // shows the trust message
    const inputs = await askFinetuneInputs(arg, vscode.window.activeTextEditor, finetuneCandidates);
    if (!inputs) return undefined;  // the user cancelled a pick
    return server('ml-lsp.finetune', inputs);
  });
}

let extensionContext: vscode.ExtensionContext | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extensionContext = context;
  workspaceState = context.workspaceState;
  output = vscode.window.createOutputChannel('ml-lsp');
  // Stop sits left of the job (higher priority): the job's text changes width with every
  // progress report, and a button must not move under the pointer.
  statusJob = vscode.window.createStatusBarItem('mlLsp.job', vscode.StatusBarAlignment.Left, 10);
  statusJob.name = 'ml-lsp job';
  statusStop = vscode.window.createStatusBarItem('mlLsp.stop', vscode.StatusBarAlignment.Left, 11);
  statusStop.name = 'ml-lsp stop';
  statusStop.text = '$(debug-stop) Stop';
  // Plain command ids, set once: a command object with arguments, reassigned on every
  // progress report, is re-registered each time and a click can land on a stale one.
  statusJob.command = 'mlLsp.statusOpenRun';
  statusStop.command = 'mlLsp.statusStopRun';
  context.subscriptions.push(output, statusJob, statusStop);
  registerCommands(context);

  context.subscriptions.push(vscode.workspace.onDidChangeConfiguration(e => {
    const reaction = configurationReaction(key => e.affectsConfiguration(`mlLsp.${key}`));
    if (reaction === 'restart') void restartServer(context);
    else if (reaction === 'notify') pushSettings();
  }));
  context.subscriptions.push(vscode.workspace.onDidGrantWorkspaceTrust(() => pushSettings()));

  const api = await pythonApi();
  const onInterpreter = api?.environments?.onDidChangeActiveEnvironmentPath ?? api?.settings?.onDidChangeExecutionDetails;
  if (onInterpreter) {
    context.subscriptions.push(onInterpreter(() => {
      if (!interpreterSetting()?.trim()) void restartServer(context);
    }));
  }
  await restartServer(context);
}

export async function deactivate(): Promise<void> {
  await stopServer();
}
