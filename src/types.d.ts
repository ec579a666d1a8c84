// Type declarations for dependencies that ship none.
declare module 'koa-csrf' {
  import type { Middleware } from 'koa';
  export default function CSRF(options?: { excludedMethods?: string[]; disableQuery?: boolean }): Middleware;
}
