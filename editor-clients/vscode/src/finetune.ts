// The input UI the fine-tune action needs: quick picks for the checkpoint to start from and
// the data to train on. The server's code action (or the command palette) calls
// `mlLsp.finetune`; the answers go back to the server's fine-tune command. What the picks
// list comes from the server (`ml-lsp.finetuneCandidates`), the same lists it asks other
// editors with: weight files and earlier runs' best/last checkpoints, never a run's own
// metric files.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { FinetuneArg, FinetuneInputs, finetuneRequest } from './finetuneInputs';

interface Pick extends vscode.QuickPickItem { value?: string; action?: 'browse' | 'type' }

/** The server's candidates for a pick ("checkpoint" or "data"). */
export type CandidateLister = (kind: 'checkpoint' | 'data', framework?: 'torch' | 'keras') => Promise<string[]>;

async function pickPath(title: string, kind: 'checkpoint' | 'data', list: CandidateLister, preset?: string, framework?: 'torch' | 'keras'): Promise<string | undefined> {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri;
  const rel = (u: vscode.Uri) => (root ? path.relative(root.fsPath, u.fsPath) : u.fsPath);
  const found = (await list(kind, framework)).filter(p => p !== preset);
  const items: Pick[] = found.map(p => ({ label: p, value: p }));
  if (preset) items.unshift({ label: preset, description: 'suggested', value: preset });
  items.push({ label: '$(folder-opened) Browse…', action: 'browse', alwaysShow: true });
  if (kind === 'data') items.push({ label: '$(edit) module:function…', description: 'a function returning (train, val) Datasets', action: 'type', alwaysShow: true });
  const pick = await vscode.window.showQuickPick(items, { title, placeHolder: items.length > 2 ? 'Pick one, or browse' : 'Nothing found in the workspace: browse', ignoreFocusOut: true });
  if (!pick) return undefined;
  if (pick.action === 'browse') {
    const chosen = await vscode.window.showOpenDialog({ title, canSelectFiles: true, canSelectFolders: kind === 'data', canSelectMany: false, defaultUri: root });
    return chosen?.[0] ? rel(chosen[0]) : undefined;
  }
  if (pick.action === 'type') {
    return vscode.window.showInputBox({ title, prompt: 'module_or_path:function returning (train, val)', placeHolder: 'data.py:load', ignoreFocusOut: true,
      validateInput: v => /^[^:]+:[A-Za-z_][A-Za-z0-9_]*$/.test(v.trim()) ? undefined : 'Write it as module_or_path:function' });
  }
  return pick.value;
}

/** Asks for checkpoint then data; undefined when the user cancels either pick. */
export async function askFinetuneInputs(arg: unknown, active: vscode.TextEditor | undefined, list: CandidateLister): Promise<FinetuneInputs | undefined> {
  const given = (arg && typeof arg === 'object' ? arg : {}) as FinetuneArg;
  const checkpoint = given.checkpoint || await pickPath('Fine-tune: checkpoint to start from', 'checkpoint', list, given.suggestedCheckpoint, given.framework);
  if (!checkpoint) return undefined;
  const data = given.data || await pickPath('Fine-tune: data (train, validation)', 'data', list, given.suggestedData);
  if (!data) return undefined;
  const python = active?.document.languageId === 'python' ? active : undefined;
  return finetuneRequest(given, checkpoint, data, python?.document.uri.toString(), python?.selection.active.line);
}
