/** The token form. The token is checked with POST /api/auth/check before it is kept. */
import { ApiError, describeError, OperatorApi } from './api.js';
import { byId } from './dom.js';

export class SignInForm {
  private readonly section = byId('sign-in');
  private readonly form = byId<HTMLFormElement>('sign-in-form');
  private readonly input = byId<HTMLInputElement>('token-input');
  private readonly error = byId('sign-in-error');

  constructor(private readonly onSignedIn: (token: string) => void) {
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.submit();
    });
  }

  show(message = ''): void {
    this.section.hidden = false;
    this.error.textContent = message;
    this.input.setAttribute('aria-invalid', String(message !== ''));
    this.input.focus();
  }

  hide(): void {
    this.section.hidden = true;
    this.input.value = '';
    this.error.textContent = '';
  }

  private async submit(): Promise<void> {
    const token = this.input.value.trim();
    if (!token) {
      this.show('Enter the operator token.');
      return;
    }
    const submit = this.form.querySelector<HTMLButtonElement>('button[type=submit]')!;
    submit.disabled = true;
    this.error.textContent = 'Checking…';
    try {
      await new OperatorApi({ token }).checkToken();
      this.onSignedIn(token);
    } catch (err) {
      this.show(err instanceof ApiError && err.status === 401 ? `This token was refused (${err.code}: ${err.message}).` : describeError(err));
    } finally {
      submit.disabled = false;
    }
  }
}
