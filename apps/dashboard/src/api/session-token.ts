// The bearer token lives in this tab's sessionStorage only: never in a URL (it would reach logs,
// history and Referer headers) and never in localStorage (it would outlive the session and be
// shared by every tab). Closing the tab signs out.
const key = 'cairn.token';

/** The token this tab signed in with, or null. */
export const sessionToken = {
  read(): string | null {
    return sessionStorage.getItem(key);
  },
  write(token: string): void {
    sessionStorage.setItem(key, token);
  },
  clear(): void {
    sessionStorage.removeItem(key);
  },
};
