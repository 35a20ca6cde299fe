import type { AlertNotice } from '../core/alerts.js';

/** Metadata key of `@OnAlert` methods. */
export const ALERT_METADATA = 'uno:on-alert';

/** What `@OnAlert` records on a method. */
export interface OnAlertMetadata {
  /** Only notices of these rules (by name); undefined: every rule. */
  rules: readonly string[] | undefined;
}

/**
 * Run a provider's method for every alert notice the cluster sends (`fired`, `repeat`, `resolved`; see
 * docs/alerts.md), discovered at boot like `@Task`. One instance evaluates each period and calls its own
 * `@OnAlert` methods, so each notice reaches one instance's method once; a method that throws is reported as
 * `worker:error`.
 *
 * @example
 * @OnAlert()
 * async page({ kind, alert }: AlertNotice) { if (kind !== 'repeat') await this.slack.post(`${alert.status}: ${alert.message}`); }
 *
 * @OnAlert({ rule: 'payments-failing' })
 * onPayments(notice: AlertNotice) { ... }
 */
export function OnAlert(options: { rule?: string | string[] } = {}): <T extends (notice: AlertNotice) => unknown>(target: object, key: string | symbol, descriptor: TypedPropertyDescriptor<T>) => TypedPropertyDescriptor<T> {
  const rules = options.rule === undefined ? undefined : typeof options.rule === 'string' ? [options.rule] : [...options.rule];
  return (_target, _key, descriptor) => {
    Reflect.defineMetadata(ALERT_METADATA, { rules } satisfies OnAlertMetadata, descriptor.value as object);
    return descriptor;
  };
}
