import { createHmac } from 'node:crypto';
import { ConfigurationError, messages } from '../contract/errors.js';
import type { Clock } from '../contract/clock.js';

/** One webhook that receives every alert notice as a JSON POST. */
export interface WebhookOptions {
  /** Where to POST (http or https). */
  url: string;
  /**
   * Signs each request: header `x-uno-signature: t=<ms>,v1=<hex>`, where hex is HMAC-SHA256 with this secret of
   * `<t>.<body>`. The receiver recomputes it and checks `t` is recent. Default: unsigned.
   */
  secret?: string;
  /** Longest wait for one attempt's response, in ms. Default 5000. */
  timeoutMs?: number;
  /** Attempts after the first when the receiver fails (network error, timeout, status >= 500 or 429). Default 5. */
  retries?: number;
  /** Wait before the first retry, in ms, doubled each time (up to 5 min). Default 1000. */
  backoffMs?: number;
  /** Extra request headers (an API key of the receiver). */
  headers?: Record<string, string>;
}

/** The signature header of a body sent at `t` (epoch ms) with `secret`: what a receiver recomputes. */
export function webhookSignature(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** Check webhook options once, at construction. */
export function validateWebhooks(webhooks: unknown): WebhookOptions[] {
  if (webhooks === undefined) return [];
  if (!Array.isArray(webhooks)) throw new ConfigurationError(messages.invalidOption('alerts.webhooks', webhooks, 'a list of { url, secret?, timeoutMs?, retries?, backoffMs? }'));
  return webhooks.map((w: WebhookOptions, i) => {
    const name = `alerts.webhooks[${i}]`;
    let url: URL | null = null;
    try {
      url = new URL(w?.url);
    } catch {
      url = null;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol)) throw new ConfigurationError(messages.invalidOption(`${name}.url`, w?.url, 'an http:// or https:// URL'));
    if (w.secret !== undefined && (typeof w.secret !== 'string' || w.secret.length === 0)) throw new ConfigurationError(messages.invalidOption(`${name}.secret`, '(hidden)', 'a non-empty string'));
    for (const [field, min] of [['timeoutMs', 1], ['retries', 0], ['backoffMs', 1]] as const) {
      const value = w[field];
      if (value !== undefined && (!Number.isInteger(value) || value < min)) throw new ConfigurationError(messages.invalidOption(`${name}.${field}`, value, `a whole number >= ${min}`));
    }
    return w;
  });
}

/**
 * Sends a JSON body to one webhook: a POST with a timeout, retried with exponential backoff (on the engine's clock)
 * while the receiver is down or answers 5xx/429, signed with HMAC-SHA256 when a secret is set. Resolves with the
 * attempts it took; rejects with the last failure once the retries are used up.
 */
export async function postWebhook(clock: Clock, webhook: WebhookOptions, body: string): Promise<number> {
  const retries = webhook.retries ?? 5;
  let delay = webhook.backoffMs ?? 1000;
  for (let attempt = 1; ; attempt++) {
    let failure: string;
    try {
      const t = clock.now();
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'uno-jobs-alerts', ...webhook.headers };
      if (webhook.secret) headers['x-uno-signature'] = webhookSignature(webhook.secret, t, body);
      const response = await fetch(webhook.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(webhook.timeoutMs ?? 5000) });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return attempt;
      failure = `HTTP ${response.status}`;
      if (response.status < 500 && response.status !== 429) throw new Error(messages.webhookRefused(webhook.url, failure));
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('Webhook ')) throw error;
      failure = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    if (attempt > retries) throw new Error(messages.webhookFailed(webhook.url, attempt, failure));
    await new Promise<void>((resolve) => clock.setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 300_000);
  }
}
