// The key rule of ConfigMap and Secret data (and of the keys pods reference).
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const MAX_KEY_LENGTH = 253;

/** Kubernetes' IsConfigMapKey: the messages for a bad key, empty when valid. */
export function configKeyErrors(key: string): string[] {
  const errs: string[] = [];
  if (key.length > MAX_KEY_LENGTH) errs.push(`must be no more than ${MAX_KEY_LENGTH} characters`);
  if (!CONFIG_KEY.test(key)) {
    errs.push(
      "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
    );
  }
  if (key === '.') errs.push("must not be '.'");
  else if (key === '..') errs.push("must not be '..'");
  else if (key.startsWith('..')) errs.push("must not start with '..'");
  return errs;
}
