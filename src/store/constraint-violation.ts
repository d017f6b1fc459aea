/**
 * Which integrity constraint a driver error reports, on either backend: better-sqlite3 sets
 * `code` to SQLITE_CONSTRAINT_*, pg sets `code` to the SQLSTATE (23505 unique, 23503 foreign key).
 */
export type ConstraintViolation = 'unique' | 'foreign-key';

export function constraintViolation(error: unknown): ConstraintViolation | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  switch ((error as { code: unknown }).code) {
    case '23505':
    case 'SQLITE_CONSTRAINT_UNIQUE':
    case 'SQLITE_CONSTRAINT_PRIMARYKEY':
      return 'unique';
    case '23503':
    case 'SQLITE_CONSTRAINT_FOREIGNKEY':
      return 'foreign-key';
    default:
      return undefined;
  }
}
