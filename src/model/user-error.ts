// An error whose message says what to fix (which input, which cluster):
// main.ts prints it as one `::error::` line, never with a stack trace.
// Anything else is a bug or an outage.
export abstract class UserError extends Error {
  /** What it is about: an input's name, a cluster's context. */
  readonly subject: string;

  constructor(name: string, subject: string, message: string) {
    super(message);
    this.name = name;
    this.subject = subject;
  }
}
