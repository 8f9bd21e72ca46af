/** Why an operator's dataset request is refused: the file (400) or the registry's state (409). */
import { ErrorCode } from '../../shared/errors.js';

/** The uploaded file, its name or its format is not acceptable. */
export class DatasetFormatError extends Error {
  readonly code = ErrorCode.BAD_REQUEST;
  constructor(message: string) {
    super(message);
    this.name = 'DatasetFormatError';
  }
}

/** The name is taken or being uploaded, the dataset is built in, or jobs use it. */
export class DatasetConflictError extends Error {
  readonly code = ErrorCode.CONFLICT;
  constructor(message: string) {
    super(message);
    this.name = 'DatasetConflictError';
  }
}
