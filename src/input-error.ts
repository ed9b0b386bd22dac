// An error the user fixes by changing an input. main.ts prints it as one
// `::error::` line without a stack trace; anything else is a bug or an outage.
export class InputError extends Error {
  readonly input: string;

  constructor(input: string, message: string) {
    super(`Input '${input}': ${message}`);
    this.name = 'InputError';
    this.input = input;
  }
}
