import { describe, expect, it } from 'vitest';
import { ConflictError, FlotillaError, InvalidError, NotFoundError, toFlotillaError } from '../../api/index.js';

describe('[errors] typed errors', () => {
  it('carry a stable code, a class name and the user-facing message', () => {
    const e = new NotFoundError('pods "web" not found');
    expect(e).toBeInstanceOf(FlotillaError);
    expect(e.code).toBe('NotFound');
    expect(e.name).toBe('NotFoundError');
    expect(e.message).toBe('pods "web" not found');
    expect(e.retryable).toBe(false);
  });

  it('mark conflicts as retryable and keep field causes of validation errors', () => {
    expect(new ConflictError('stale').retryable).toBe(true);
    const inv = new InvalidError('Pod "x" is invalid', [
      { field: 'spec.containers[0].image', reason: 'FieldValueRequired', message: 'Required value' },
    ]);
    expect(inv.causes[0]?.field).toBe('spec.containers[0].image');
  });

  it('wrap foreign throwables as Internal without losing typed ones', () => {
    const typed = new NotFoundError('x');
    expect(toFlotillaError(typed)).toBe(typed);
    const wrapped = toFlotillaError(new TypeError('boom'));
    expect(wrapped.code).toBe('Internal');
    expect(wrapped.message).toBe('boom');
    expect(toFlotillaError('text').message).toBe('text');
  });
});
