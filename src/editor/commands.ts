// The `Slipstream:` commands. Ids are stable (the end-to-end tests and keybindings use them);
// titles live in package.json.

import * as vscode from 'vscode';
import { writeSetting } from '../config';
import type { Ctx } from '../ctx';
import { renderLatencyReport } from './latency';
import { COMMANDS } from './status';

/** Read-only virtual document: the report is regenerated each time it is opened. */
const REPORT_SCHEME = 'slipstream';
const REPORT_URI = vscode.Uri.from({ scheme: REPORT_SCHEME, path: '/latency-report.md' });

export function registerCommands(ctx: Ctx): void {
  const report = new LatencyReportProvider(ctx);
  ctx.pushCleanup(report);
  ctx.pushCleanup(vscode.workspace.registerTextDocumentContentProvider(REPORT_SCHEME, report));

  ctx.pushCleanup(
    vscode.commands.registerCommand(COMMANDS.toggle, async () => {
      const enable = !ctx.settings.enable;
      await writeSetting('enable', enable);
      vscode.window.setStatusBarMessage(`Slipstream: completions ${enable ? 'on' : 'off'}`, 2000);
    }),
  );

  ctx.pushCleanup(
    vscode.commands.registerCommand(COMMANDS.triggerCompletion, () => vscode.commands.executeCommand('editor.action.inlineSuggest.trigger')),
  );

  ctx.pushCleanup(
    vscode.commands.registerCommand(COMMANDS.selectModelFolder, async () => {
      const picked = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: false,
        canSelectMany: false,
        defaultUri: vscode.Uri.file(ctx.modelDir),
        openLabel: 'Use This Model',
        title: 'Slipstream: a Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer.json)',
      });
      const folder = picked?.[0]?.fsPath;
      if (folder === undefined) return;
      if (folder === ctx.modelDir) {
        // Same value: no settings change event will come, but the user wants another try
        // (typically after fixing the files).
        ctx.retryModel();
        return;
      }
      await writeSetting('modelPath', folder);
    }),
  );

  ctx.pushCleanup(vscode.commands.registerCommand(COMMANDS.showLog, () => ctx.log.show()));

  ctx.pushCleanup(
    vscode.commands.registerCommand(COMMANDS.showLatencyReport, async () => {
      report.refresh();
      const doc = await vscode.workspace.openTextDocument(REPORT_URI);
      await vscode.window.showTextDocument(doc, { preview: true });
    }),
  );
}

class LatencyReportProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changes = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changes.event;

  constructor(private readonly ctx: Ctx) {}

  provideTextDocumentContent(): string {
    return renderLatencyReport(this.ctx.latency.samples(), this.ctx.settings.latencyReportSize, undefined, this.ctx.eventLoop.summary());
  }

  /** An open report tab shows the latest samples when the command runs again. */
  refresh(): void {
    this.changes.fire(REPORT_URI);
  }

  dispose(): void {
    this.changes.dispose();
  }
}
