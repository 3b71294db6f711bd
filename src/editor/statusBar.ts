// The status bar item. It draws one StatusState through one method; what each state looks
// like is decided by renderStatus (status.ts), which is unit-tested without VS Code.

import * as vscode from 'vscode';
import { renderStatus, type StatusState } from './status';

/** Item id; VS Code prefixes the extension id, so the DOM element is `slipstream.slipstream.status`. */
export const STATUS_ITEM_ID = 'status';

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;

  constructor() {
    // Right side, next to the editor's own language/encoding items, where completion
    // extensions conventionally sit.
    this.item = vscode.window.createStatusBarItem(STATUS_ITEM_ID, vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Slipstream';
    this.setState({ kind: 'idle' });
    this.item.show();
  }

  setState(state: StatusState): void {
    const view = renderStatus(state);
    this.item.text = view.text;
    const tooltip = new vscode.MarkdownString(view.tooltip, true);
    tooltip.isTrusted = false;
    this.item.tooltip = tooltip;
    this.item.accessibilityInformation = { label: view.ariaLabel, role: 'button' };
    this.item.command = view.command;
    this.item.backgroundColor = view.background === 'none' ? undefined : new vscode.ThemeColor(`statusBarItem.${view.background}Background`);
  }

  dispose(): void {
    this.item.dispose();
  }
}
