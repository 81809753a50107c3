// Who is signed in: established by the desktop shell (the OS account bound to a person),
// never chosen in the window. Loaded once at start and after a bind.
import { api, errorText } from "./api";
import type { Person, Whoami } from "./bindings";

export const session = $state<{ who: Whoami | null; error: string | null }>({ who: null, error: null });

export async function refreshSession(): Promise<Whoami | null> {
  try {
    session.who = await api.whoami();
    session.error = null;
  } catch (e) {
    session.error = errorText(e);
  }
  return session.who;
}

// Binds this OS account to a person (once) and signs them in.
export async function bindPerson(spec: string): Promise<Whoami> {
  const who = await api.personBind(spec);
  session.who = who;
  session.error = null;
  return who;
}

export function signedIn(): Person | null {
  return session.who?.person ?? null;
}

// The first screen's figures come first: the top bar's own checks (the audit chain, the
// review queue) start once it has them, or after two seconds, so that on a large inventory
// they do not share the machine with the dashboard's first paint.
let shown: () => void = () => {};
export const firstScreen = new Promise<void>((resolve) => {
  shown = resolve;
  setTimeout(resolve, 2000);
});
export function firstScreenShown(): void {
  shown();
}
