// Typed calls into the desktop shell, generated from the Rust commands (commands.ts).
import { isApiError } from "./call";
export { commands as api } from "./commands";
export type { Pick, SaveAs } from "./commands";

export function errorText(e: unknown): string {
  return isApiError(e) ? e.message : String(e);
}
