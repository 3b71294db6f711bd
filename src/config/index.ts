// The `vscode` side of the settings: read `slipstream.*` into a typed `Settings`, write back
// the two values commands change. Parsing rules live in settings.ts.

import * as os from 'node:os';
import * as vscode from 'vscode';
import { resolveModelDir } from './modelDir';
import { parseSettings, type Settings, type SettingKey } from './settings';

export * from './settings';
export { resolveModelDir } from './modelDir';

export const SECTION = 'slipstream';

export function readSettings(): Settings {
  const cfg = vscode.workspace.getConfiguration(SECTION);
  return parseSettings((key: SettingKey) => cfg.get<unknown>(key));
}

export function affectsSettings(e: vscode.ConfigurationChangeEvent): boolean {
  return e.affectsConfiguration(SECTION);
}

/** Absolute model folder for the current settings and workspace. */
export function modelDirFor(settings: Settings, extensionPath: string): string {
  return resolveModelDir(settings.modelPath, {
    extensionPath,
    home: os.homedir(),
    workspaceFolder: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
  });
}

/**
 * Writes `value` where the effective value comes from: a workspace (folder) override would
 * otherwise silently win over a user-level write and the command would appear to do nothing.
 * With no override the write is user-level, so the choice follows the user across workspaces.
 */
export async function writeSetting<K extends 'enable' | 'modelPath'>(key: K, value: Settings[K]): Promise<void> {
  const cfg = vscode.workspace.getConfiguration(SECTION);
  const seen = cfg.inspect<unknown>(key);
  // Both keys are window-scoped in package.json, so there is no folder-level value to consider.
  const target = seen?.workspaceValue !== undefined ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await cfg.update(key, value, target);
}
