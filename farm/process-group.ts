/**
 * An npm script run the way supervisors run a program, for the tests: in its own
 * process group (systemd's control group, `timeout`, a CI runner), stopped by a
 * signal to the whole group. Its output is collected; waits are on its lines and on
 * its exit, with named timeouts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ProcessGroup {
  private output = '';
  private readonly child: ChildProcess;
  readonly exited: Promise<Exit>;

  /** `npm run <script> -- <args>` from the repository root. */
  constructor(script: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn('npm', ['run', script, '--', ...args], {
      cwd: ROOT,
      detached: true, // its own process group, as a supervisor starts it
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (d: Buffer) => (this.output += d.toString());
    this.child.stdout!.on('data', collect);
    this.child.stderr!.on('data', collect);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** npm's PID, which is also the group's ID. */
  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get log(): string {
    return this.output;
  }

  /** What a supervisor does: the signal to every process of the group (`kill -SIG -- -PGID`). */
  signal(signal: NodeJS.Signals): void {
    process.kill(-this.pid, signal);
  }

  /** Resolves with the first match of `pattern` in the output; fails if the group's leader exits first or after `ms`. */
  waitForLine(pattern: RegExp, ms: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(this.output);
        if (!m) return false;
        done();
        resolve(m);
        return true;
      };
      const onData = () => void check();
      const onExit = () => {
        if (check()) return;
        done();
        reject(new Error(`exited before printing ${pattern}:\n${this.output}`));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${pattern} within ${ms} ms:\n${this.output}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.child.stdout!.off('data', onData);
        this.child.stderr!.off('data', onData);
        this.child.off('exit', onExit);
      };
      if (check()) return;
      if (!this.running) return onExit();
      this.child.stdout!.on('data', onData);
      this.child.stderr!.on('data', onData);
      this.child.once('exit', onExit);
    });
  }

  /**
   * For cleanup after a failed test: SIGKILL the group while its leader lives. Once the
   * leader has exited its group ID is a PID like any other and may already name a
   * stranger's group (a browser Playwright launched, another test's); what the group
   * left behind is the tests' to kill by identity (process-tree.ts signalProcess).
   */
  kill(): void {
    if (!this.running) return;
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
}
