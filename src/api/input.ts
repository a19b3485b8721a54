// Every input is checked with zod at the edge; the first problem becomes BAD_USER_INPUT naming its field.
// What a value may be (storable text, dates, ids) is defined once in src/domain/values.ts; this adds the
// API's own formats on top.
import { z } from 'zod';
import { ValidationError } from '../domain/errors.ts';
import { text } from '../domain/values.ts';

export { breakReason, customerIdentity, dataKey, dataValue, dateTime, expiry, id, messageText, name, note, reason, searchText, storableText, text } from '../domain/values.ts';

export function parseInput<S extends z.ZodType>(schema: S, value: unknown, prefix = 'input'): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  throw new ValidationError(field, issue.message);
}

export const login = text({ min: 2, max: 64 }).pipe(z.string().regex(/^[A-Za-z0-9._@+-]+$/, 'letters, digits and . _ @ + - only'));
export const password = text({ min: 8, max: 200, trim: false });
export const phone = z
  .string()
  .trim()
  .regex(/^\+?[0-9]{3,20}$/, 'digits, optionally after a +, 3 to 20 of them');
