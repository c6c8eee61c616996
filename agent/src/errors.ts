// One error type for everything a command can fail with; it crosses the channel as
// { code, message, details } (protocol/src/agent.ts AgentErrorBody).
import type { AgentErrorBody, AgentErrorCode } from '@flotilla/protocol/agent';

export class AgentError extends Error {
  constructor(readonly code: AgentErrorCode, message: string, readonly details?: unknown) {
    super(message);
    this.name = 'AgentError';
  }

  toBody(): AgentErrorBody {
    return this.details === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, details: this.details };
  }

  /** Any thrown value as an AgentError: unknown errors are driver failures (bugs or host trouble). */
  static from(e: unknown): AgentError {
    if (e instanceof AgentError) return e;
    return new AgentError('DRIVER_FAILURE', e instanceof Error ? e.message : String(e));
  }
}
