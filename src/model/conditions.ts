// Kubernetes status conditions: the one rule for "condition X is True".

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

/** The conditions in an object's status (none when it has no status yet). */
export function conditionsOf(o: object | null | undefined): Condition[] {
  const status = (o as { status?: { conditions?: Condition[] } } | null | undefined)?.status;
  return (status?.conditions ?? []).filter((c) => c !== null && typeof c === 'object');
}

export function conditionTrue(o: object | null | undefined, type: string): boolean {
  return conditionsOf(o).some((c) => c.type === type && c.status === 'True');
}
