;;; ml-lsp-eglot.el --- Eglot configuration for ml-lsp  -*- lexical-binding: t -*-
;; Emacs 29+ (eglot built in) or Emacs 28 with eglot from ELPA (Debian: elpa-eglot).
;; Put this file on your load-path and (require 'ml-lsp-eglot), or paste the forms into
;; your init file. Then M-x eglot in a Python buffer (or add eglot-ensure to python-mode-hook).
;;
;; Eglot runs one server per major mode: this makes ml-lsp the Python server. To keep
;; pyright/pylsp as well, see editor-clients/README.md (eglot-booster / lsp-mode multi-server).

(require 'eglot)

(defgroup ml-lsp nil "ml-lsp: tensor shapes and training runs for PyTorch code." :group 'tools)

(defcustom ml-lsp-python "python3"
  "Python interpreter that has ml-lsp installed (pip install ml-lsp)."
  :type 'string)

(defcustom ml-lsp-settings '(:inlayHints (:shapes t :metrics t))
  "ml-lsp settings, sent as initializationOptions and as the \"ml-lsp\" section.
Keys as in VS Code's mlLsp.*: :select [\"SH\"], :ignore [], :runsDir \".ml-lsp/runs\",
:devices \"auto\", :trust \"ask\", :traceOnSave :json-false, :logLevel \"info\"."
  :type 'sexp)

(defconst ml-lsp-path-safe-main
  "import sys; sys.path[:] = [p for p in sys.path if p]; from ml_lsp.cli import main; sys.exit(main())"
  "Python code that starts ml-lsp without importing from the working folder.
Eglot starts the server in the project's root, and `python -m' would import a cloned
repository's tokenize.py or ml_lsp/ from there first; with -c that folder is the
empty entry on sys.path, dropped before anything is imported.")

(defun ml-lsp-eglot-contact (&optional _interactive)
  "The Eglot contact: ml-lsp's serve command (path-safe), with `ml-lsp-settings' as
initializationOptions."
  (list ml-lsp-python "-c" ml-lsp-path-safe-main "serve" :initializationOptions ml-lsp-settings))

(add-to-list 'eglot-server-programs
             (cons (if (fboundp 'python-ts-mode) '(python-mode python-ts-mode) 'python-mode)
                   #'ml-lsp-eglot-contact))

;; Answer the server's workspace/configuration request for section "ml-lsp".
(setq-default eglot-workspace-configuration
              (lambda (_server) (list :ml-lsp ml-lsp-settings)))

(defun ml-lsp-execute (command &rest arguments)
  "Run an ml-lsp server COMMAND (e.g. \"ml-lsp.run\") with ARGUMENTS."
  (jsonrpc-request (eglot--current-server-or-lose) :workspace/executeCommand
                   (list :command command :arguments (vconcat arguments))))

(defun ml-lsp-run ()
  "Run the current Python file as an ml-lsp job; its metrics show in the run folder."
  (interactive)
  (save-buffer)
  (let ((result (ml-lsp-execute "ml-lsp.run" (list :uri (eglot--path-to-uri buffer-file-name) :args []))))
    (message "ml-lsp: started run %s" (plist-get result :runId))))

(defun ml-lsp-stop (run-id)
  "Stop the ml-lsp run RUN-ID."
  (interactive "sRun id: ")
  (ml-lsp-execute "ml-lsp.stop" (list :runId run-id)))

(provide 'ml-lsp-eglot)
;;; ml-lsp-eglot.el ends here
