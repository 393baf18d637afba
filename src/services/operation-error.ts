import type { ErrorCode } from './operator-views.js';

/**
 * A refusal or failure with its code, as the API answered it (the remote implementation throws these).
 * Exit codes follow the code: 2 for input the operator must change, 1 for everything else.
 */
export class OperationError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'OperationError';
  }
}
