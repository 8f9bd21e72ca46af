/**
 * The operator token lives in sessionStorage: it survives a reload but not the tab, so
 * a shared machine does not keep an operator signed in.
 */
const KEY = 'downpour.operatorToken';

export function loadToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(KEY);
}
