// The one way the window calls the desktop shell. Errors arrive as `{code, message}` and the
// UI branches on `code` only; anything else (a failed IPC) is reported as a storage error.
import { invoke } from "@tauri-apps/api/core";
import type { ApiError } from "./bindings";

export function isApiError(e: unknown): e is ApiError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (e) {
    if (isApiError(e)) throw e;
    const failure: ApiError = { code: "storage", message: String(e) };
    throw failure;
  }
}
