/**
 * The CoOp family (CoOp, CoCoOp): a learnable text context in front of (or around) the class name, the
 * encoders otherwise untouched. With context words (`ctxInit`, CoOp's CTX_INIT) the whole phrase is the
 * context, initialised from its word embeddings; without, `nCtx` random tokens ("X X X X").
 */
import type { ClipArchitecture } from '../../backbones/clip/model.js';
import type { DesignParts } from './method.js';
import type { ResolvedOptions } from './options.js';
import { contextParam, draft, finish, methodError, placeholders } from './kit.js';

export function learnedContext(
  method: string,
  o: ResolvedOptions,
  arch: ClipArchitecture,
  layout: { csc: boolean; position: 'end' | 'middle' | 'front' },
): DesignParts {
  if (o.ctxInit) {
    // CoOp: n_ctx = number of words of CTX_INIT; the whole phrase is learnable
    const n = o.ctxInit.trim().split(/\s+/).length;
    const d = draft({ kind: 'learned', nCtx: n, promptPrefix: o.ctxInit, ctxFromWords: true, csc: false, position: layout.position });
    d.params.push(contextParam(arch, n, true));
    if (layout.csc) throw methodError(method, 'class-specific context (--csc) needs random initialisation (--ctx-init "")');
    return finish(method, d);
  }
  if (o.nCtx < 1) throw methodError(method, '--n-ctx must be at least 1');
  const d = draft({ kind: 'learned', nCtx: o.nCtx, promptPrefix: placeholders(o.nCtx), ctxFromWords: false, csc: layout.csc, position: layout.position });
  d.params.push(contextParam(arch, o.nCtx, false, layout.csc));
  return finish(method, d);
}
