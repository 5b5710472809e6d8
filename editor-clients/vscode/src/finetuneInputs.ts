// Pure helpers behind the fine-tune quick picks (no `vscode` import).

/** The suffixes ml-lsp's fine-tune loads (ml_lsp/finetune/spec.py CHECKPOINT_SUFFIXES). */
export const CHECKPOINT_GLOB = '**/*.{pt,pth,bin,ckpt,safetensors}';
/** Data the built-in loaders read, plus Python files that may hold a loader function. */
export const DATA_GLOB = '**/*.{npz,csv,npy}';

/**
 * The argument of the server's `ml-lsp.finetune` when it writes a fine-tune spec:
 * `{uri, line, model?, init?, checkpoint, data, name?}` (the code action sends the same
 * without checkpoint/data, plus `suggestedCheckpoint`/`suggestedData` hints).
 */
export interface FinetuneInputs {
  uri?: string;
  line?: number;
  model?: string;
  init?: string;
  name?: string;
  checkpoint: string;
  data: string;
}

export type FinetuneArg = Partial<FinetuneInputs> & { suggestedCheckpoint?: string; suggestedData?: string; run?: boolean };

/** The ▶ Fine-tune lens runs an existing spec (`{name, run: true}`): nothing to ask. */
export function needsInputs(arg: FinetuneArg | undefined): boolean {
  return !arg?.run && !(arg?.checkpoint && arg?.data);
}

/** Workspace candidates, the shallowest and then alphabetical first; run outputs last. */
export function sortCandidates(files: { path: string; mtime: number }[]): string[] {
  const depth = (p: string) => p.split(/[\\/]/).length;
  const inRuns = (p: string) => /(^|[\\/])\.ml-lsp[\\/]/.test(p) ? 1 : 0;
  const unique = [...new Set(files.map(f => f.path))];
  // npy files in one folder stand for the folder (the loader reads a folder of .npy)
  const folded = new Set<string>();
  for (const p of unique) {
    if (p.endsWith('.npy')) {
      const dir = p.replace(/[\\/][^\\/]+$/, '');
      folded.add(dir === p ? p : dir);
    } else folded.add(p);
  }
  return [...folded].sort((a, b) => inRuns(a) - inRuns(b) || depth(a) - depth(b) || a.localeCompare(b));
}

/** The argument sent to the server: what the code action passed, the picks, and the
 * active editor's file and line when the palette command ran without an argument. */
export function finetuneRequest(given: FinetuneArg, checkpoint: string, data: string, activeUri?: string, activeLine?: number): FinetuneInputs {
  const { suggestedCheckpoint: _c, suggestedData: _d, run: _r, ...rest } = given;
  const out: FinetuneInputs = { ...rest, checkpoint, data };
  if (out.uri === undefined && activeUri) out.uri = activeUri;
  if (out.line === undefined && typeof activeLine === 'number') out.line = activeLine;
  return out;
}
