;;; emacs_e2e.el --- Emacs 28 + eglot end to end against the real ml-lsp  -*- lexical-binding: t -*-
;; Run: emacs --batch -l tests/editors/emacs_e2e.el   (not -Q: Debian's site-start puts eglot on load-path)
;; Env: ML_LSP_PY, ML_LSP_WS, ML_LSP_CLIENT_DIR (editor-clients/emacs), ML_LSP_OUT, ML_LSP_WAIT_MS.
(require 'cl-lib)
(add-to-list 'load-path (getenv "ML_LSP_CLIENT_DIR"))
(require 'ml-lsp-eglot)
(require 'python)
(require 'flymake)

(defvar e2e-out (getenv "ML_LSP_OUT"))
(defvar e2e-wait (/ (string-to-number (or (getenv "ML_LSP_WAIT_MS") "60000")) 1000.0))
(defvar e2e-failed 0)
(defun e2e-log (fmt &rest args)
  (let ((s (apply #'format fmt args)))
    (princ (concat s "\n"))
    (write-region (concat (replace-regexp-in-string "\n" " " s) "\n") nil e2e-out t 'silent)))
(defun e2e-check (name ok detail)
  (unless ok (setq e2e-failed (1+ e2e-failed)))
  (e2e-log "%s %s: %s" (if ok "PASS" "FAIL") name detail)
  ok)
(defun e2e-wait (pred)
  "Wait for PRED, processing server output, up to `e2e-wait' seconds."
  (let ((deadline (+ (float-time) e2e-wait)))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (funcall pred)))

(when (file-exists-p e2e-out) (delete-file e2e-out))
(e2e-log "emacs %s eglot %s" emacs-version
         (with-temp-buffer (insert-file-contents (locate-library "eglot.el"))
                           (re-search-forward "^;; Version: \\(.*\\)$") (match-string 1)))
(setq ml-lsp-python (getenv "ML_LSP_PY")
      ml-lsp-settings '(:trust "trusted")
      eglot-sync-connect t
      flymake-no-changes-timeout nil)

(defun e2e-shape-diags ()
  "Eglot's flymake diagnostics whose LSP code starts with SH (the shape rules)."
  (cl-remove-if-not
   (lambda (d)
     (let ((lsp (cdr (assoc 'eglot-lsp-diag (eglot--diag-data d)))))
       (string-prefix-p "SH" (format "%s" (plist-get lsp :code)))))
   (flymake-diagnostics)))

(condition-case err
    (let ((file (expand-file-name "shape_error.py" (getenv "ML_LSP_WS"))))
      (find-file file)
      (python-mode)
      (apply #'eglot (eglot--guess-contact))  ; what M-x eglot does
      (e2e-check "connected" (e2e-wait (lambda () (eglot-current-server)))
                 (format "%S" (and (eglot-current-server) (eglot--project-nickname (eglot-current-server)))))
      ;; diagnostics: fc2 = Linear(256, ...) fed fc1's 128 features, through flymake
      (let ((ok (e2e-wait (lambda () (flymake-start) (e2e-shape-diags)))))
        (e2e-check "diagnostic on the shape error" (and ok (memq (flymake-diagnostic-type (car ok)) '(eglot-error :error)))
                   (format "%S" (mapcar #'flymake-diagnostic-text (flymake-diagnostics)))))
      ;; hover on h in forward (line 12): a shape ending in 128 features
      (goto-char (point-min)) (forward-line 11) (forward-char 8)
      (let ((hv (jsonrpc-request (eglot-current-server) :textDocument/hover (eglot--TextDocumentPositionParams))))
        (e2e-check "hover shows the shape" (string-match-p "[([][^])]*128[])]" (format "%S" hv)) (format "%S" hv)))
      ;; quick fix: eglot-code-actions on the diagnostic, kind quickfix, as M-x would
      (let ((diag (car (e2e-shape-diags))))
        (when diag
          (let ((picked nil))
            (cl-letf ((last-nonmenu-event 13)  ; a key, not a mouse click: eglot asks with completing-read
                      ((symbol-function 'completing-read)
                       (lambda (_prompt coll &rest _) (setq picked (caar coll)) (caar coll))))
              (condition-case e
                  (eglot-code-actions (flymake-diagnostic-beg diag) (flymake-diagnostic-end diag) "quickfix" t)
                (error (e2e-log "INFO eglot-code-actions: %S" e))))
            (e2e-check "quick fix applied, diagnostic cleared"
                       (e2e-wait (lambda ()
                                   ;; eglot sends didChange from an idle timer; batch Emacs is never idle
                                   (eglot--signal-textDocument/didChange)
                                   (flymake-start) (null (e2e-shape-diags))))
                       (format "%s | %s" (or picked "single action")
                               (buffer-substring-no-properties
                                (save-excursion (goto-char (point-min)) (forward-line 7) (point))
                                (save-excursion (goto-char (point-min)) (forward-line 13) (point))))))))
      (e2e-log "INFO eglot 1.9 has no code-lens or inlay-hint UI (inlay hints: eglot 1.10+/Emacs 29)")
      (eglot-shutdown (eglot-current-server)))
  (error (e2e-check "no-error" nil (format "%S" err))))
(e2e-log "DONE failed=%d" e2e-failed)
(kill-emacs (if (= e2e-failed 0) 0 1))
