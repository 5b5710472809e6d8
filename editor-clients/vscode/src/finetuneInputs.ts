// Pure helpers behind the fine-tune quick picks (no `vscode` import).

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
  /** "keras" from the code action on a Keras model: its checkpoints are .keras/.h5 files. */
  framework?: 'torch' | 'keras';
}

export type FinetuneArg = Partial<FinetuneInputs> & { suggestedCheckpoint?: string; suggestedData?: string; run?: boolean };

/** The ▶ Fine-tune lens runs an existing spec (`{name, run: true}`): nothing to ask. */
export function needsInputs(arg: FinetuneArg | undefined): boolean {
  return !arg?.run && !(arg?.checkpoint && arg?.data);
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
