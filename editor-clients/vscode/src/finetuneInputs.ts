// Pure helpers behind the fine-tune quick picks (no `vscode` import).

/** The suffixes ml-lsp's fine-tune loads (ml_lsp/finetune/spec.py CHECKPOINT_SUFFIXES). */
export const CHECKPOINT_GLOB = '**/*.{pt,pth,bin,ckpt,safetensors}';
/** Data the built-in loaders read, plus Python files that may hold a loader function. */
export const DATA_GLOB = '**/*.{npz,csv,npy}';

export interface FinetuneInputs {
  uri?: string;
  model?: string;
  name?: string;
  line?: number;
  checkpoint: string;
  data: string;
  suggestedCheckpoint?: string;
  suggestedData?: string;
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

/** The argument object sent to the server's fine-tune command. */
export function finetuneRequest(given: Partial<FinetuneInputs>, checkpoint: string, data: string, activeUri?: string): FinetuneInputs {
  const out: FinetuneInputs = { checkpoint, data };
  const uri = given.uri ?? activeUri;
  if (uri) out.uri = uri;
  if (given.model) out.model = given.model;
  if (given.name) out.name = given.name;
  if (typeof given.line === 'number') out.line = given.line;
  return out;
}
