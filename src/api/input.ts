// Every input is checked with zod at the edge; the first problem becomes BAD_USER_INPUT naming its field.
import { z } from 'zod';
import { ValidationError } from '../domain/errors.ts';

export function parseInput<S extends z.ZodType>(schema: S, value: unknown, prefix = 'input'): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  throw new ValidationError(field, issue.message);
}

export const id = z.uuid({ message: 'not a valid id' });
export const name = z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters');
export const login = z
  .string()
  .trim()
  .min(2, 'at least 2 characters')
  .max(64, 'at most 64 characters')
  .regex(/^[A-Za-z0-9._@+-]+$/, 'letters, digits and . _ @ + - only');
export const password = z.string().min(8, 'at least 8 characters').max(200, 'at most 200 characters');
export const phone = z
  .string()
  .trim()
  .regex(/^\+?[0-9]{3,20}$/, 'digits, optionally after a +, 3 to 20 of them');
export const reason = z.string().trim().min(1, 'must not be empty').max(200, 'at most 200 characters');
