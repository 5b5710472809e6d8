// Drives real VS Code (code-server in Debian's chromium, via playwright-core) with the ml-lsp
// extension installed, through what a user does. Prints one JSON object:
//   {"checks": [{"name", "ok", "detail"}], "shots": DIR}
// Usage: node vscode_e2e.js URL SHOTS_DIR [trusted|untrusted|prompt|missing]   (env: CHROMIUM, E2E_WAIT_MS)
//   untrusted: answers VS Code's Workspace Trust dialog with "No" and checks that static
//   features still work while ▶ Run, Trace shapes and saving run nothing of the (hostile)
//   workspace. prompt: Workspace Trust is off, so ml-lsp's own prompt asks before ▶ Run;
//   "Cancel" runs nothing, "Trust and run" runs. missing: the interpreter has no ml_lsp,
//   and the extension says which pip command installs it.
// Every wait is on a condition in the page (with a deadline), never a fixed sleep.
const { chromium } = require('playwright-core');
const path = require('path');
const fs = require('fs');

const URL = process.argv[2];
const SHOTS = process.argv[3];
const MODE = process.argv[4] || 'trusted';
const WAIT = Number(process.env.E2E_WAIT_MS || 60000);
fs.mkdirSync(SHOTS, { recursive: true });

const checks = [];
function check(name, ok, detail) {
  checks.push({ name, ok: !!ok, detail: String(detail ?? '').slice(0, 400) });
  return !!ok;
}
let shotNo = 0;
async function shot(page, name) {
  shotNo += 1;
  // a hover fades in: wait until it is opaque, so that the picture shows what it says
  await waitFor(async () => page.evaluate(() => [...document.querySelectorAll('.monaco-hover:not(.hidden)')]
    .every(h => getComputedStyle(h).opacity === '1')), 2000);
  await page.screenshot({ path: path.join(SHOTS, `${String(shotNo).padStart(2, '0')}-${name}.png`) }).catch(() => {});
}

// Inlay hints are injected text with generated `dyn-rule-*` classes: collect those spans' text.
async function inlayTexts(page) {
  return page.evaluate(() => [...document.querySelectorAll('.monaco-editor .view-lines span[class*="dyn-rule"]')]
    .map(s => s.textContent.replace(/\u00a0/g, ' ').trim()).filter(t => t && t !== '\u200a'));
}

// The same spans in order, padding included: VS Code draws an InlayHint's paddingLeft as a
// span of its own holding a hair space (U+200A) before the label.
async function inlaySpans(page) {
  return page.evaluate(() => [...document.querySelectorAll('.monaco-editor .view-lines span[class*="dyn-rule"]')]
    .map(s => s.textContent.replace(/\u00a0/g, ' ')));
}

// The rows the command palette lists for TEXT (the palette is closed again).
async function paletteRows(page, text) {
  await page.keyboard.press('Escape');
  await page.keyboard.press('F1');
  await page.waitForSelector('.quick-input-widget input', { state: 'visible', timeout: WAIT });
  await page.keyboard.type(text);
  const rows = await waitFor(async () => {
    const r = await page.locator('.quick-input-list .monaco-list-row').allTextContents();
    return r.some(t => t.includes(text)) ? r : undefined;
  });
  await page.keyboard.press('Escape');
  return rows || [];
}

// Ctrl+. at the cursor until the action menu lists a row matching RE (the menu asked for
// before the server has answered, or while the file is being analysed, shows none).
async function actionRows(page, re) {
  return waitFor(async () => {
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+.');
    return waitFor(async () => {
      const r = await page.locator('.action-widget .monaco-list-row.action').allTextContents();
      return r.some(t => re.test(t)) ? r : undefined;
    }, 3000);
  }, WAIT, 500);
}

async function waitFor(fn, ms = WAIT, every = 200) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) return undefined;
    await new Promise(r => setTimeout(r, every));  // polling interval, not a wait for an outcome
  }
}

async function openFile(page, name) {
  await page.locator('.explorer-folders-view .monaco-list-row', { hasText: name }).first().dblclick();
  await page.waitForFunction(n => document.querySelector('.tab.active')?.textContent.includes(n), name, { timeout: WAIT });
  await page.waitForSelector('.monaco-editor .view-lines', { timeout: WAIT });
}

async function goTo(page, line, col) {
  await page.keyboard.press('Control+G');
  await page.waitForSelector('.quick-input-widget input', { state: 'visible', timeout: WAIT });
  await page.keyboard.type(`${line}:${col}`);
  await page.keyboard.press('Enter');
  await page.waitForSelector('.quick-input-widget', { state: 'hidden', timeout: WAIT });
}

// Runs a command from the palette; retried until the palette lists it (a contributed
// command shows up only once the extension host has registered the extension).
async function runCommand(page, title) {
  return waitFor(async () => {
    await page.keyboard.press('Escape');
    await page.keyboard.press('F1');
    await page.waitForSelector('.quick-input-widget input', { state: 'visible', timeout: WAIT });
    await page.keyboard.type(title);
    const listed = await waitFor(async () => (await page.locator('.quick-input-list .monaco-list-row').first().textContent())?.includes(title), 5000);
    if (!listed) {
      await page.keyboard.press('Escape');
      return false;
    }
    await page.keyboard.press('Enter');
    return true;
  }, WAIT, 1000);
}

async function statusTexts(page) {
  return page.locator('.statusbar-item').allTextContents();
}

async function missingServer(page) {
  const toast = await waitFor(async () => (await page.locator('.notification-toast').allTextContents()).find(t => /pip install/.test(t)));
  check('missing ml_lsp: notification with the pip command', toast, toast || (await page.locator('.notification-toast').allTextContents()).join(' | '));
  await shot(page, 'missing-server-notification');
  if (!toast) return;
  // The notification's "Choose interpreter": the user types a Python that has ml-lsp; the
  // setting changes, the extension restarts the server, and diagnostics appear.
  const goodPython = process.env.E2E_GOOD_PYTHON;
  await page.locator('.notification-toast .monaco-button', { hasText: 'Choose interpreter' }).first().click();
  const box = page.locator('.quick-input-widget input');
  await box.waitFor({ state: 'visible', timeout: WAIT });
  await box.fill(goodPython);
  await shot(page, 'choose-interpreter');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.explorer-folders-view .monaco-list-row', { timeout: WAIT });
  await openFile(page, 'shape_error.py');
  const squiggle = await waitFor(async () => (await page.locator('.monaco-editor .squiggly-error').count()) > 0);
  check('interpreter changed: server restarted, diagnostics shown', squiggle, squiggle ? goodPython : 'no .squiggly-error');
  await shot(page, 'interpreter-changed');
}

async function untrusted(page) {
  const no = page.locator('.monaco-dialog-box .monaco-button', { hasText: "No, I don't trust the authors" });
  const asked = await waitFor(async () => (await no.count()) > 0);
  check('Workspace Trust asks', asked, asked ? '' : 'no trust dialog');
  await shot(page, 'untrusted-dialog');
  if (!asked) return;
  await no.first().click();
  await page.waitForSelector('.explorer-folders-view .monaco-list-row', { timeout: WAIT });
  await openFile(page, 'shape_error.py');
  const squiggle = await waitFor(async () => (await page.locator('.monaco-editor .squiggly-error').count()) > 0);
  check('untrusted: diagnostics still shown', squiggle, squiggle ? '' : 'no .squiggly-error');
  await shot(page, 'untrusted-diagnostics');
  await openFile(page, 'train_loop.py');
  const lens = await waitFor(async () => {
    const l = page.locator('.monaco-editor .codelens-decoration a', { hasText: 'Run' });
    return (await l.count()) > 0 ? l.first() : undefined;
  });
  if (!check('untrusted: ▶ Run code lens shown', lens, '')) return;
  await lens.click();
  const toast = await waitFor(async () => (await page.locator('.notification-toast').allTextContents()).find(t => /trust/i.test(t)));
  check('untrusted: ▶ Run refused with a message', toast, toast || (await page.locator('.notification-toast').allTextContents()).join(' | '));
  await shot(page, 'untrusted-run-refused');
  const job = await page.locator('[aria-label^="ml-lsp job"]').count();
  check('untrusted: no job in the status bar', job === 0, `${job} job items`);

  // The repository's model: edit and save it (its pyproject asks for trace on save), then
  // its Trace shapes lens. Neither may import it (the Python side checks the mark).
  await openFile(page, 'evil_model.py');
  await page.locator('.monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('\n# edited\n');
  await page.keyboard.press('Control+S');
  const saved = await waitFor(async () => !(await page.locator('.tab.active.dirty').count()));
  check('untrusted: model saved', saved, saved ? '' : 'the tab stayed dirty');
  const trace = await waitFor(async () => {
    const l = page.locator('.monaco-editor .codelens-decoration a', { hasText: 'Trace shapes' });
    return (await l.count()) > 0 ? l.first() : undefined;
  });
  if (trace) {
    await page.locator('.notification-toast .codicon-notifications-clear').first().click().catch(() => {});
    await trace.click();
  }
  const refused = trace && await waitFor(async () => (await page.locator('.notification-toast').allTextContents()).find(t => /trust/i.test(t)));
  check('untrusted: Trace shapes refused', refused, refused || (trace ? (await page.locator('.notification-toast').allTextContents()).join(' | ') : 'no Trace shapes lens'));
  await shot(page, 'untrusted-trace-refused');
}

async function clickToastButton(page, toastText, button) {
  const toast = page.locator('.notification-toast', { hasText: toastText }).first();
  await toast.locator('.monaco-button', { hasText: button }).first().click();
}

async function prompt(page) {
  await page.waitForSelector('.explorer-folders-view .monaco-list-row', { timeout: WAIT });
  await openFile(page, 'train_loop.py');
  const runLens = async () => waitFor(async () => {
    const l = page.locator('.monaco-editor .codelens-decoration a', { hasText: 'Run' });
    return (await l.count()) > 0 ? l.first() : undefined;
  });
  const asked = async () => waitFor(async () => (await page.locator('.notification-toast').allTextContents())
    .find(t => /run code from the workspace/.test(t) && /Trust and run/.test(t)));
  let lens = await runLens();
  if (!lens) return check('prompt: ml-lsp asks before running', false, 'no ▶ Run lens');
  await lens.click();
  const question = await asked();
  check('prompt: ml-lsp asks before running', question, question || (await page.locator('.notification-toast').allTextContents()).join(' | '));
  await shot(page, 'prompt-asks');
  if (!question) return;
  await clickToastButton(page, 'run code from the workspace', 'Cancel');
  const refusal = await waitFor(async () => (await page.locator('.notification-toast').allTextContents()).find(t => /not trusted/.test(t)));
  const jobs = await page.locator('[aria-label^="ml-lsp job"]').count();
  check('prompt: Cancel runs nothing', refusal && jobs === 0, `${refusal || 'no refusal message'}; ${jobs} job items`);
  await shot(page, 'prompt-cancelled');
  for (const t of await page.locator('.notification-toast .codicon-notifications-clear').all()) await t.click().catch(() => {});

  lens = await runLens();
  await lens.click();
  if (!await asked()) return check('prompt: Trust and run starts the run', false, 'asked only once');
  await clickToastButton(page, 'run code from the workspace', 'Trust and run');
  const jobItem = page.locator('[aria-label^="ml-lsp job"]');
  const job = await waitFor(async () => (await jobItem.count()) > 0 && jobItem.first().getAttribute('aria-label'));
  check('prompt: Trust and run starts the run', job, job || (await statusTexts(page)).join(' | '));
  await shot(page, 'prompt-trusted-run');
  const stop = page.locator('[aria-label^="ml-lsp stop"]');
  if (job && await waitFor(async () => (await stop.count()) > 0)) {
    await stop.first().click();
    const gone = await waitFor(async () => (await stop.count()) === 0);
    check('prompt: the run stops from the status bar', gone, (await statusTexts(page)).join(' | '));
  } else {
    check('prompt: the run stops from the status bar', false, 'no Stop button');
  }
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  try {
    await page.goto(URL);
    await page.waitForSelector('.monaco-workbench', { timeout: WAIT });
    if (MODE === 'untrusted') await untrusted(page);
    else if (MODE === 'prompt') await prompt(page);
    else if (MODE === 'missing') await missingServer(page);
    else await trusted(page);
  } catch (e) {
    check('no exception in the driver', false, String(e));
    await shot(page, 'error');
  }
  await browser.close();
  console.log(JSON.stringify({ checks, shots: SHOTS }));
})();

async function logText(page) {
  return ((await page.locator('.part.panel').first().textContent().catch(() => '')) || '').replace(/\u00a0/g, ' ');
}

async function serverStarts(page) {
  // the panel renders only the lines in view, so read the client's own start count, not a line count
  const counts = [...(await logText(page)).matchAll(/\[client\] ml-lsp \S+ \(server start (\d+)/g)].map(m => Number(m[1]));
  return counts.length ? Math.max(...counts) : 0;
}

async function trusted(page) {
  {
    await page.waitForSelector('.explorer-folders-view .monaco-list-row', { timeout: WAIT });

    // 0. no mlLsp.interpreter setting: the Python extension's active interpreter is used
    await runCommand(page, 'ml-lsp: Show ml-lsp log');
    const fromExt = await waitFor(async () => /\(from python-extension\)/.test(await logText(page)) && (await serverStarts(page)) >= 1);
    check("Python extension's interpreter used", fromExt, (await logText(page)).slice(-300));
    await runCommand(page, 'View: Close Panel');

    // 1. an example model: shape inlay hints and a hover with a shape
    await openFile(page, 'mnist_mlp.py');
    const hints = await waitFor(async () => {
      const t = await inlayTexts(page);
      return t.some(x => /[([][^)\]]*\d[^)\]]*[)\]]/.test(x)) ? t : undefined;
    });
    check('shape inlay hints', hints, hints ? hints.slice(0, 8).join(' | ') : (await inlayTexts(page)).join(' | ') || 'none rendered');
    // the model is generic in its batch: its own shapes say B (the README's `h: (B, 128)`)
    const symbolic = await waitFor(async () => (await inlayTexts(page)).find(t => t === 'h: (B, 128)'));
    check('symbolic shape hint h: (B, 128)', symbolic, (await inlayTexts(page)).join(' | '));
    // each hint at the end of a line keeps its distance from the code (paddingLeft)
    const spans = await inlaySpans(page);
    const flush = spans.filter((t, i) => /^\w+(, \w+)*: /.test(t) && spans[i - 1] !== '\u200a');
    check('shape hints padded from the code', spans.length && !flush.length, flush.length ? `flush: ${flush.join(' | ')}` : spans.slice(0, 6).join(' | '));
    await shot(page, 'model-inlay-hints');

    await goTo(page, 23, 9);  // `h` in `h = F.relu(self.fc1(x))`
    const hover = await waitFor(async () => {
      await page.keyboard.press('Control+K');
      await page.keyboard.press('Control+I');
      await page.waitForSelector('.monaco-hover:not(.hidden) .hover-contents', { timeout: 2000 });
      const text = (await page.locator('.monaco-hover:not(.hidden)').allTextContents()).join(' ');
      return /[([][^)\]]*128[)\]]/.test(text) ? text : undefined;
    }, WAIT, 500);
    check('hover shows a shape', hover, hover || (await page.locator('.monaco-hover').allTextContents().catch(() => [])).join(' '));
    // the symbolic shape, with the concrete one of the call in the file
    check('symbolic hover names the concrete call', hover && hover.includes('(B, 128)') && /\(64, 128\) for the call on line \d+/.test(hover), hover);
    await shot(page, 'symbolic-hover');
    await page.keyboard.press('Escape');

    // 1b. "Fine-tune from checkpoint…" on the class line: quick picks for checkpoint and data
    await goTo(page, 13, 1);  // class MLP(nn.Module):
    const ftRows = await actionRows(page, /Fine-tune/);
    if (check('Fine-tune code action', ftRows, ftRows ? ftRows.join(' | ') : 'no Fine-tune action')) {
      for (let i = 0; i < ftRows.findIndex(t => /Fine-tune/.test(t)); i++) await page.keyboard.press('ArrowDown');
      await page.keyboard.press('Enter');
      const pickIn = async (title, text) => {
        const shown = await waitFor(async () => {
          const t = await page.locator('.quick-input-widget .quick-input-title').textContent().catch(() => '');
          const visible = await page.locator('.quick-input-widget').isVisible().catch(() => false);
          return visible && new RegExp(title).test(t || '') ? t : undefined;
        });
        const rows = shown ? await page.locator('.quick-input-list .monaco-list-row').allTextContents() : [];
        if (shown) {
          await page.keyboard.type(text);
          await waitFor(async () => (await page.locator('.quick-input-list .monaco-list-row').first().textContent())?.includes(text), 5000);
          await shot(page, `finetune-pick-${text}`);
          await page.keyboard.press('Enter');
        }
        return { shown, rows };
      };
      const ck = await pickIn('checkpoint', 'pretrained.pt');
      check('Fine-tune asks for the checkpoint (quick pick)', ck.shown && ck.rows.some(r => r.includes('pretrained.pt')), ck.rows.join(' | '));
      check("Fine-tune picker: an earlier run's last checkpoint, no metric files",
        ck.rows.some(r => r.includes('checkpoints/last.pt')) && !ck.rows.some(r => /frames\.bin/.test(r)), ck.rows.join(' | '));
      const dt = await pickIn('data', 'digits.npz');
      check('Fine-tune asks for the data (quick pick)', dt.shown && dt.rows.some(r => r.includes('digits.npz')), dt.rows.join(' | '));
      const wrote = await waitFor(async () => (await page.locator('.notification-toast').allTextContents()).find(t => /finetune/.test(t)));
      check('Fine-tune spec written (server message)', wrote, wrote || (await page.locator('.notification-toast').allTextContents()).join(' | '));
      await shot(page, 'finetune-written');
    }

    // 2. a shape error: the squiggle, then its quick fix applied from the Ctrl+. menu
    await openFile(page, 'shape_error.py');
    const squiggle = await waitFor(async () => (await page.locator('.monaco-editor .squiggly-error').count()) > 0);
    check('shape-error squiggle', squiggle, squiggle ? '' : 'no .squiggly-error');
    await shot(page, 'shape-error-squiggle');
    if (squiggle) {
      const box = await page.locator('.monaco-editor .squiggly-error').first().boundingBox();
      await page.mouse.click(box.x + Math.min(box.width / 2, 20), box.y + box.height / 2);
      await page.keyboard.press('Control+.');
      const rows = await waitFor(async () => {
        const r = await page.locator('.action-widget .monaco-list-row.action').allTextContents();
        return r.length ? r : undefined;
      }, 15000);
      const pick = (rows || []).findIndex(r => !/ignore|noqa|disable|suppress|learn more/i.test(r));
      check('quick fix offered', pick >= 0, (rows || []).join(' | '));
      await shot(page, 'quick-fix-menu');
      if (pick >= 0) {
        for (let i = 0; i < pick; i++) await page.keyboard.press('ArrowDown');
        await page.keyboard.press('Enter');
        const cleared = await waitFor(async () => (await page.locator('.monaco-editor .squiggly-error').count()) === 0);
        check('quick fix applied, squiggle gone', cleared, rows[pick]);
        await page.keyboard.press('Control+S');
        await shot(page, 'quick-fix-applied');
      }
    }

    // 3. ▶ Run on a training script: the loss hint appears and updates; stop from the status bar
    await openFile(page, 'train_loop.py');
    const lens = await waitFor(async () => {
      const l = page.locator('.monaco-editor .codelens-decoration a', { hasText: 'Run' });
      return (await l.count()) > 0 ? l.first() : undefined;
    });
    check('▶ Run code lens', lens, lens ? await lens.textContent() : (await page.locator('.codelens-decoration').allTextContents()).join(' | '));
    if (lens) {
      await lens.click();
      const metric = t => /\bloss\s+-?\d/.test(t);  // `loss 0.231 ↓`, not the static shape hint `loss: ()`
      const first = await waitFor(async () => (await inlayTexts(page)).find(metric));
      check('loss hint appears', first, first || (await inlayTexts(page)).join(' | '));
      await shot(page, 'run-loss-hint');
      if (first) {
        const next = await waitFor(async () => (await inlayTexts(page)).find(t => metric(t) && t !== first));
        check('loss hint updates', next, `${first} -> ${next}`);
        await shot(page, 'run-loss-hint-updated');
      }
      const jobItem = page.locator('[aria-label^="ml-lsp job"]');
      const job = await waitFor(async () => (await jobItem.count()) > 0 && jobItem.first().getAttribute('aria-label'));
      check('status bar shows the running job', job, job || (await statusTexts(page)).join(' | '));
      if (job) {  // clicking the job opens the run (its log, through window/showDocument)
        await jobItem.first().click();
        const opened = await waitFor(async () => (await page.locator('.tab.active').textContent())?.includes('.log'));
        check('status bar job opens the run', opened, await page.locator('.tab.active').textContent());
        await shot(page, 'run-opened');
      }
      const stop = page.locator('[aria-label^="ml-lsp stop"]');
      const stopShown = await waitFor(async () => (await stop.count()) > 0);
      await shot(page, 'run-status-bar');
      if (check('status bar Stop button', stopShown, (await statusTexts(page)).join(' | '))) {
        await stop.first().click();
        const gone = await waitFor(async () => (await stop.count()) === 0);
        check('stopped from the status bar (job left the status bar)', gone, (await statusTexts(page)).join(' | '));
        await shot(page, 'run-stopped');
      }
    }

    // 3b. a run that crashes on the user's line: the notification says so with what to do
    //     next, the diagnostic leads with the user's frames, and the static fix is offered
    for (const t of await page.locator('.notification-toast .codicon-notifications-clear').all()) await t.click().catch(() => {});
    await openFile(page, 'crash_head.py');
    const crashLens = await waitFor(async () => {
      const l = page.locator('.monaco-editor .codelens-decoration a', { hasText: '▶ Run' });
      return (await l.count()) > 0 ? l.first() : undefined;
    });
    if (check('crash: ▶ Run code lens', crashLens, (await page.locator('.codelens-decoration').allTextContents()).join(' | '))) {
      await crashLens.click();
      const failed = await waitFor(async () => (await page.locator('.notification-toast').allTextContents()).find(t => /failed/.test(t) && /RuntimeError/.test(t)), 2 * WAIT);
      const buttons = failed ? await page.locator('.notification-toast', { hasText: 'RuntimeError' }).first().locator('.monaco-button').allTextContents() : [];
      check('crash: notification with Show traceback, Show log, Rerun',
        failed && ['Show traceback', 'Show log', 'Rerun'].every(b => buttons.includes(b)), `${failed || (await page.locator('.notification-toast').allTextContents()).join(' | ')} [${buttons.join(', ')}]`);
      await goTo(page, 11, 16);  // `self` in `return self.fc(x)`, the user's line the crash is on
      const crashHover = await waitFor(async () => {
        await page.keyboard.press('Control+K');
        await page.keyboard.press('Control+I');
        await page.waitForSelector('.monaco-hover:not(.hidden) .hover-contents', { timeout: 2000 });
        const text = (await page.locator('.monaco-hover:not(.hidden)').allTextContents()).join(' ');
        return /RuntimeError/.test(text) ? text : undefined;
      }, WAIT, 500);
      check("crash: diagnostic on the user's line, the user's frames only",
        crashHover && /crash_head\.py/.test(crashHover) && !/linear\.py|module\.py/.test(crashHover), crashHover);
      await shot(page, 'crash');
      await page.keyboard.press('Escape');
      const fixRows = await actionRows(page, /static check's fix/);
      check("crash: the static check's fix offered", fixRows, (fixRows || []).join(' | '));
      await shot(page, 'crash-quick-fix');
      await page.keyboard.press('Escape');
    }

    // 4. the palette's "Restart ml-lsp" (listed once), then another interpreter picked in the Python
    //    extension: each restarts the server, as "Show ml-lsp log" shows
    const restartRows = (await paletteRows(page, 'Restart ml-lsp')).filter(r => r.includes('Restart ml-lsp'));
    check('palette lists Restart ml-lsp once', restartRows.length === 1, restartRows.join(' | '));
    await runCommand(page, 'ml-lsp: Restart ml-lsp');
    await runCommand(page, 'ml-lsp: Show ml-lsp log');
    const restarted = await waitFor(async () => (await serverStarts(page)) >= 2);
    check('Restart ml-lsp, seen in Show ml-lsp log', restarted, `${await serverStarts(page)} server starts logged`);
    await runCommand(page, 'Python double: select interpreter');
    await page.waitForSelector('.quick-input-widget input', { state: 'visible', timeout: WAIT });
    await page.keyboard.type(process.env.E2E_GOOD_PYTHON);
    await page.keyboard.press('Enter');
    await runCommand(page, 'ml-lsp: Show ml-lsp log');
    const followed = await waitFor(async () => (await serverStarts(page)) >= 3);
    check('Python extension interpreter change restarts the server', followed, `${await serverStarts(page)} server starts logged`);
    await shot(page, 'restart-and-log');
  }
}
