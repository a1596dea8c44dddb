import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import { DlnError, ErrorCode } from '@dln/contracts';
import { SERVICE_CONFIG } from './tokens';

const OPEN_PATHS = new Set(['/health', '/metrics']);

function same(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** When API_KEY is configured, REST calls carry it as `x-api-key` or `Authorization: Bearer`. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(@Inject(SERVICE_CONFIG) private readonly config: { API_KEY?: string | undefined }) {}

  canActivate(context: ExecutionContext): boolean {
    const expected = this.config.API_KEY;
    if (!expected || context.getType() !== 'http') return true;
    const request = context
      .switchToHttp()
      .getRequest<{ url: string; headers: Record<string, string | undefined> }>();
    if (OPEN_PATHS.has(request.url.split('?')[0] ?? '')) return true;
    const bearer = request.headers['authorization']?.replace(/^Bearer\s+/i, '');
    const given = request.headers['x-api-key'] ?? bearer;
    if (given && same(given, expected)) return true;
    throw new DlnError(
      ErrorCode.Unauthorized,
      'missing or wrong API key (x-api-key or Authorization: Bearer)',
    );
  }
}
