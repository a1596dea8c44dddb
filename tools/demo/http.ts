/** A REST call of the demo; a non-2xx answer becomes an Error carrying the service's message. */
export async function callJson<T>(
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<T> {
  const init: RequestInit = { method, signal: AbortSignal.timeout(600_000) };
  if (body !== undefined) {
    init.headers = { 'content-type': contentType };
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(url, init);
  const text = await res.text();
  const parsed = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const error = (parsed as { error?: { message?: string } | string } | undefined)?.error;
    const message = typeof error === 'string' ? error : (error?.message ?? text);
    throw new Error(`${method} ${url} -> ${res.status}: ${message}`);
  }
  return parsed as T;
}
