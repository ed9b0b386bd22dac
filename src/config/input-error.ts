// An error the user fixes by changing an input, named in the message.
import { UserError } from '../model/user-error.ts';

export class InputError extends UserError {
  readonly input: string;

  constructor(input: string, message: string) {
    super('InputError', input, `Input '${input}': ${message}`);
    this.input = input;
  }
}
