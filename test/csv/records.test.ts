/**
 * Finding a column by name: the error for a missing column names the column asked for
 * and the header's column count, never the header's fields (in a headerless file the
 * first line is a record, and its fields are data).
 */
import { describe, expect, it } from 'vitest';
import { columnIndex } from '../../src/csv/records.js';
import { KoppelError } from '../../src/errors/index.js';

function missing(header: string[], name: string): KoppelError {
  try {
    columnIndex(header, name);
  } catch (e) {
    if (e instanceof KoppelError) return e;
    throw e;
  }
  throw new Error('columnIndex found the column');
}

describe('columnIndex', () => {
  it('CSV_COLUMN_NOT_FOUND carries none of the header fields (a headerless first record), in message or details', () => {
    const firstRecord = ['111222333', 'Jansen', 'Amsterdam'];
    const e = missing(firstRecord, 'bsn');
    expect(e.code).toBe('CSV_COLUMN_NOT_FOUND');
    const text = e.message + ' ' + JSON.stringify(e.details);
    for (const field of firstRecord) expect(text).not.toContain(field);
    expect(e.message).toContain('"bsn"');
    expect(e.message).toContain('3 columns');
    expect(e.message).toContain('header');
    expect(e.details).toEqual({ column: 'bsn', columns: 3 });
  });

  it('a one-column header that holds a delimiter points at --delimiter without printing the field', () => {
    const e = missing(['111222333;Jansen;Amsterdam'], 'bsn');
    expect(e.message).toContain('--delimiter');
    expect(e.message).not.toMatch(/111222333|Jansen|Amsterdam/);
  });

  it('finds a column, and a name that occurs twice is CSV_MALFORMED', () => {
    expect(columnIndex(['a', 'bsn', 'c'], 'bsn')).toBe(1);
    expect(() => columnIndex(['bsn', 'bsn'], 'bsn')).toThrow(expect.objectContaining({ code: 'CSV_MALFORMED' }) as Error);
  });
});
