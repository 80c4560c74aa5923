/**
 * The linear probe's classifier, as CoOp's lpclip fits it: sklearn's LogisticRegression(solver="lbfgs",
 * penalty="l2", max_iter=1000, tol=1e-4) -- a multinomial softmax for three or more classes, one logistic
 * (sklearn's binary case) for two -- minimising, from zero,
 *   Σ_i loss_i + ‖W‖² / (2C)        (the intercept is not penalised)
 * with scipy's L-BFGS-B (m = 10, gtol = tol, ftol = 2.2e-9, maxls = 20), which stops at max|∇| ≤ 1e-4: not
 * at the optimum. lpclip's choice of C depends on those answers (at large C an early stop is far from the
 * optimum, at small C the penalty keeps every weight near zero), so this is sklearn's solver as it behaves
 * on an unbounded problem: the same quasi-Newton direction (L-BFGS-B's compact form equals the two-loop
 * recursion when nothing is bounded), the same first step (1/‖g‖), the same Moré-Thuente line search
 * (MINPACK-2's dcsrch/dcstep with ftol 1e-3, gtol 0.9, xtol 0.1), update skipping, restarts and stopping
 * rules. The functions and gradients are libtorch's float64 (sklearn's are its own), so the answers agree to
 * rounding, not bit for bit (test/prompting/zoo-parity.test.ts measures it).
 */
import { Tensor, noGrad, tensor, tidy } from '../torch/index.js';

export interface LogisticProblem {
  /** features [n, D], float64 */
  x: Tensor;
  /** labels 0..classes-1 (every class present, as sklearn's classes_) */
  y: readonly number[];
  classes: number;
}

export interface LogisticFit {
  /** [classes, D] and [classes] float64; two classes: the logistic's w and b in row 1, zeros in row 0 (same decisions) */
  coef: Tensor;
  intercept: Tensor;
  /** L-BFGS-B iterations (sklearn's n_iter_) */
  iterations: number;
  /** why it stopped: 'pgtol', 'ftol' (converged), 'maxiter', 'linesearch' (abnormal termination, as scipy's) */
  stop: LbfgsStop;
  objective: number;
}

export type LbfgsStop = 'pgtol' | 'ftol' | 'maxiter' | 'linesearch' | 'maxfun';

export interface LbfgsOptions {
  /** iterations at most (sklearn's max_iter; lpclip: 1000) */
  maxIter: number;
  /** sklearn's tol = scipy's gtol (default 1e-4) */
  gtol?: number;
  /** scipy's ftol (default 2.220446049250313e-09: factr 1e7) */
  ftol?: number;
  /** corrections kept (scipy's maxcor, 10) */
  memory?: number;
  /** function evaluations per line search (scipy's maxls, 20) */
  maxls?: number;
  /** function evaluations in all (scipy's maxfun, 15000) */
  maxfun?: number;
  /** called with every function value computed (diagnostics) */
  onEval?: (f: number) => void;
}

/** Fits one C, as LogisticRegression(C=C, solver="lbfgs", max_iter=maxIter).fit(x, y). */
export function fitLogistic(p: LogisticProblem, C: number, o: LbfgsOptions): LogisticFit {
  const [n, D] = p.x.shape;
  const K = p.classes;
  const binary = K === 2;
  const rows = binary ? 1 : K;
  return noGrad(() => {
    const Y = tidy(() => {
      const y = tensor(BigInt64Array.from(p.y, (v) => BigInt(v)), [n], 'int64', p.x.device);
      return binary ? y.as('float64').unsqueeze(1) : y.oneHot(K).as('float64');
    }).keep();
    // θ = [W (rows x D) row-major, b (rows)]
    const fg = (theta: Float64Array): { f: number; g: Float64Array } =>
      tidy(() => {
        const t = tensor(theta, [theta.length], 'float64', p.x.device);
        const W = t.narrow(0, 0, rows * D).view([rows, D]);
        const b = t.narrow(0, rows * D, rows);
        const raw = p.x.matmul(W.T).add(b); // [n, rows]
        let loss: Tensor;
        let G: Tensor;
        if (binary) {
          // HalfBinomialLoss: log(1 + exp(raw)) − y·raw; gradient sigmoid(raw) − y
          loss = raw.clamp(0, null).add(raw.abs().neg().exp().add(1).log()).sub(raw.mul(Y)).sum();
          G = raw.sigmoid().sub(Y);
        } else {
          // HalfMultinomialLoss: logsumexp(raw) − raw_y; gradient softmax(raw) − onehot
          loss = raw.logsumexp(1).sum().sub(raw.mul(Y).sum());
          G = raw.softmax(1).sub(Y);
        }
        const f = loss.add(W.mul(W).sum().div(2 * C)).item();
        const gW = G.T.matmul(p.x).add(W, 1 / C);
        const gb = G.sum(0);
        const g = new Float64Array(theta.length);
        g.set(gW.contiguous().toArray() as number[], 0);
        g.set(gb.toArray() as number[], rows * D);
        return { f, g };
      });
    try {
      const r = lbfgsb(fg, new Float64Array(rows * D + rows), o);
      const w = r.x.subarray(0, rows * D);
      const b = r.x.subarray(rows * D);
      const coef = binary ? new Float64Array([...new Float64Array(D), ...w]) : Float64Array.from(w);
      const intercept = binary ? new Float64Array([0, b[0]]) : Float64Array.from(b);
      return {
        coef: tensor(coef, [K, D], 'float64', p.x.device).keep(),
        intercept: tensor(intercept, [K], 'float64', p.x.device).keep(),
        iterations: r.iterations,
        stop: r.stop,
        objective: r.f,
      };
    } finally {
      Y.dispose();
    }
  });
}

const dot = (a: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const maxAbs = (a: Float64Array): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};

const EPS = 2.220446049250313e-16;

/**
 * scipy's L-BFGS-B (v3.0, as scipy.optimize.minimize(method="L-BFGS-B") drives it) on a problem without
 * bounds. Returns the last accepted iterate.
 */
export function lbfgsb(fg: (x: Float64Array) => { f: number; g: Float64Array }, x0: Float64Array, o: LbfgsOptions): { x: Float64Array; f: number; iterations: number; stop: LbfgsStop } {
  const pgtol = o.gtol ?? 1e-4;
  const ftol = o.ftol ?? 2.220446049250313e-9;
  const m = o.memory ?? 10;
  const maxls = o.maxls ?? 20;
  const maxfun = o.maxfun ?? 15000;
  const n = x0.length;
  let x = Float64Array.from(x0);
  let { f, g } = fg(x);
  o.onEval?.(f);
  let nfev = 1;
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const SY: number[] = [];
  let theta = 1;
  let iter = 0;
  if (maxAbs(g) <= pgtol) return { x, f, iterations: 0, stop: 'pgtol' };
  for (;;) {
    // the search direction: −H·g (two-loop recursion, H0 = 1/θ); −g while the memory is empty
    const d = Float64Array.from(g, (v) => -v);
    if (S.length) {
      const alpha = new Array<number>(S.length);
      for (let i = S.length - 1; i >= 0; i--) {
        alpha[i] = dot(S[i], d) / SY[i];
        const yi = Y[i];
        for (let k = 0; k < n; k++) d[k] -= alpha[i] * yi[k];
      }
      for (let k = 0; k < n; k++) d[k] /= theta;
      for (let i = 0; i < S.length; i++) {
        const beta = dot(Y[i], d) / SY[i];
        const si = S[i];
        for (let k = 0; k < n; k++) d[k] += (alpha[i] - beta) * si[k];
      }
    }
    // lnsrlb: the line search from x along d
    const fold = f;
    const xold = x;
    const gold = g;
    const gdold = dot(g, d);
    let ok = gdold < 0;
    let stp = iter === 0 ? Math.min(1 / Math.sqrt(dot(d, d)), 1e10) : 1;
    let gd = gdold;
    if (ok) {
      const ls = new Dcsrch(fold, gdold, stp, 1e-3, 0.9, 0.1, 0, 1e10);
      let trials = 0;
      for (;;) {
        if (trials >= maxls) {
          ok = false;
          break;
        }
        const xt = new Float64Array(n);
        for (let k = 0; k < n; k++) xt[k] = xold[k] + stp * d[k];
        const r = fg(xt);
        o.onEval?.(r.f);
        nfev++;
        trials++;
        x = xt;
        f = r.f;
        g = r.g;
        gd = dot(g, d);
        const next = ls.step(f, gd, stp);
        if (next === null) break; // converged, or a warning: take this point
        stp = next;
      }
    }
    if (!ok) {
      // a failed line search: back to the last point; once with the memory dropped, then give up (as scipy)
      x = xold;
      f = fold;
      g = gold;
      if (S.length === 0) return { x, f, iterations: iter, stop: 'linesearch' };
      S.length = 0;
      Y.length = 0;
      SY.length = 0;
      theta = 1;
      continue;
    }
    iter++;
    if (iter >= o.maxIter) return { x, f, iterations: iter, stop: 'maxiter' };
    if (nfev > maxfun) return { x, f, iterations: iter, stop: 'maxfun' };
    if (maxAbs(g) <= pgtol) return { x, f, iterations: iter, stop: 'pgtol' };
    if (fold - f <= ftol * Math.max(Math.abs(fold), Math.abs(f), 1)) return { x, f, iterations: iter, stop: 'ftol' };
    // the correction pair: s = stp·d, y = g − g_old; skipped unless s·y > eps·(−g_old·s)
    const y = new Float64Array(n);
    for (let k = 0; k < n; k++) y[k] = g[k] - gold[k];
    const rr = dot(y, y);
    const dr = stp === 1 ? gd - gdold : (gd - gdold) * stp;
    const ddum = stp === 1 ? -gdold : -gdold * stp;
    if (dr <= EPS * ddum) continue;
    const s = stp === 1 ? d : Float64Array.from(d, (v) => v * stp);
    S.push(s);
    Y.push(y);
    SY.push(dr);
    if (S.length > m) {
      S.shift();
      Y.shift();
      SY.shift();
    }
    theta = rr / dr;
  }
}

/**
 * MINPACK-2's dcsrch (Moré and Thuente's line search for the strong Wolfe conditions), as L-BFGS-B calls it:
 * construct with φ(0), φ'(0) and the first step; `step(φ(stp), φ'(stp), stp)` returns the next step to try, or
 * null when the search ends (convergence or one of dcsrch's warnings: the current point is taken).
 */
class Dcsrch {
  private brackt = false;
  private stage = 1;
  private readonly ginit: number;
  private readonly gtest: number;
  private width: number;
  private width1: number;
  private stx = 0;
  private fx: number;
  private gx: number;
  private sty = 0;
  private fy: number;
  private gy: number;
  private stmin = 0;
  private stmax: number;

  constructor(
    private readonly finit: number,
    ginit: number,
    stp: number,
    private readonly ftol: number,
    private readonly gtol: number,
    private readonly xtol: number,
    private readonly stpmin: number,
    private readonly stpmax: number,
  ) {
    this.ginit = ginit;
    this.gtest = ftol * ginit;
    this.width = stpmax - stpmin;
    this.width1 = this.width / 0.5;
    this.fx = finit;
    this.gx = ginit;
    this.fy = finit;
    this.gy = ginit;
    this.stmax = stp + 4 * stp;
  }

  step(f: number, g: number, stp: number): number | null {
    const ftest = this.finit + stp * this.gtest;
    if (this.stage === 1 && f <= ftest && g >= 0) this.stage = 2;
    if (this.brackt && (stp <= this.stmin || stp >= this.stmax)) return null; // rounding errors prevent progress
    if (this.brackt && this.stmax - this.stmin <= this.xtol * this.stmax) return null; // xtol test satisfied
    if (stp === this.stpmax && f <= ftest && g <= this.gtest) return null;
    if (stp === this.stpmin && (f > ftest || g >= this.gtest)) return null;
    if (f <= ftest && Math.abs(g) <= this.gtol * -this.ginit) return null; // converged
    let next: number;
    if (this.stage === 1 && f <= this.fx && f > ftest) {
      // the modified function ψ(stp) = φ(stp) − φ(0) − gtest·stp
      const fm = f - stp * this.gtest;
      const r = dcstep(this.stx, this.fx - this.stx * this.gtest, this.gx - this.gtest, this.sty, this.fy - this.sty * this.gtest, this.gy - this.gtest, stp, fm, g - this.gtest, this.brackt, this.stmin, this.stmax);
      this.stx = r.stx;
      this.sty = r.sty;
      this.fx = r.fx + r.stx * this.gtest;
      this.fy = r.fy + r.sty * this.gtest;
      this.gx = r.dx + this.gtest;
      this.gy = r.dy + this.gtest;
      this.brackt = r.brackt;
      next = r.stp;
    } else {
      const r = dcstep(this.stx, this.fx, this.gx, this.sty, this.fy, this.gy, stp, f, g, this.brackt, this.stmin, this.stmax);
      ({ stx: this.stx, fx: this.fx, dx: this.gx, sty: this.sty, fy: this.fy, dy: this.gy, brackt: this.brackt } = r);
      next = r.stp;
    }
    if (this.brackt) {
      if (Math.abs(this.sty - this.stx) >= 0.66 * this.width1) next = this.stx + 0.5 * (this.sty - this.stx);
      this.width1 = this.width;
      this.width = Math.abs(this.sty - this.stx);
      this.stmin = Math.min(this.stx, this.sty);
      this.stmax = Math.max(this.stx, this.sty);
    } else {
      this.stmin = next + 1.1 * (next - this.stx);
      this.stmax = next + 4 * (next - this.stx);
    }
    next = Math.min(Math.max(next, this.stpmin), this.stpmax);
    if ((this.brackt && (next <= this.stmin || next >= this.stmax)) || (this.brackt && this.stmax - this.stmin <= this.xtol * this.stmax)) next = this.stx;
    return next;
  }
}

/** MINPACK-2's dcstep: a safeguarded cubic/quadratic step and the updated interval of uncertainty. */
function dcstep(stx: number, fx: number, dx: number, sty: number, fy: number, dy: number, stp: number, fp: number, dp: number, brackt: boolean, stpmin: number, stpmax: number) {
  const sgnd = dp * (dx / Math.abs(dx));
  let stpf: number;
  if (fp > fx) {
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    const s = Math.max(Math.abs(theta), Math.abs(dx), Math.abs(dp));
    let gamma = s * Math.sqrt((theta / s) ** 2 - (dx / s) * (dp / s));
    if (stp < stx) gamma = -gamma;
    const p = gamma - dx + theta;
    const q = gamma - dx + gamma + dp;
    const r = p / q;
    const stpc = stx + r * (stp - stx);
    const stpq = stx + (dx / ((fx - fp) / (stp - stx) + dx) / 2) * (stp - stx);
    stpf = Math.abs(stpc - stx) < Math.abs(stpq - stx) ? stpc : stpc + (stpq - stpc) / 2;
    brackt = true;
  } else if (sgnd < 0) {
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    const s = Math.max(Math.abs(theta), Math.abs(dx), Math.abs(dp));
    let gamma = s * Math.sqrt((theta / s) ** 2 - (dx / s) * (dp / s));
    if (stp > stx) gamma = -gamma;
    const p = gamma - dp + theta;
    const q = gamma - dp + gamma + dx;
    const r = p / q;
    const stpc = stp + r * (stx - stp);
    const stpq = stp + (dp / (dp - dx)) * (stx - stp);
    stpf = Math.abs(stpc - stp) > Math.abs(stpq - stp) ? stpc : stpq;
    brackt = true;
  } else if (Math.abs(dp) < Math.abs(dx)) {
    const theta = (3 * (fx - fp)) / (stp - stx) + dx + dp;
    const s = Math.max(Math.abs(theta), Math.abs(dx), Math.abs(dp));
    let gamma = s * Math.sqrt(Math.max(0, (theta / s) ** 2 - (dx / s) * (dp / s)));
    if (stp > stx) gamma = -gamma;
    const p = gamma - dp + theta;
    const q = gamma + (dx - dp) + gamma;
    const r = p / q;
    let stpc: number;
    if (r < 0 && gamma !== 0) stpc = stp + r * (stx - stp);
    else if (stp > stx) stpc = stpmax;
    else stpc = stpmin;
    const stpq = stp + (dp / (dp - dx)) * (stx - stp);
    if (brackt) {
      stpf = Math.abs(stpc - stp) < Math.abs(stpq - stp) ? stpc : stpq;
      stpf = stp > stx ? Math.min(stp + 0.66 * (sty - stp), stpf) : Math.max(stp + 0.66 * (sty - stp), stpf);
    } else {
      stpf = Math.abs(stpc - stp) > Math.abs(stpq - stp) ? stpc : stpq;
      stpf = Math.max(stpmin, Math.min(stpmax, stpf));
    }
  } else {
    if (brackt) {
      const theta = (3 * (fp - fy)) / (sty - stp) + dy + dp;
      const s = Math.max(Math.abs(theta), Math.abs(dy), Math.abs(dp));
      let gamma = s * Math.sqrt((theta / s) ** 2 - (dy / s) * (dp / s));
      if (stp > sty) gamma = -gamma;
      const p = gamma - dp + theta;
      const q = gamma - dp + gamma + dy;
      const r = p / q;
      stpf = stp + r * (sty - stp);
    } else stpf = stp > stx ? stpmax : stpmin;
  }
  if (fp > fx) {
    sty = stp;
    fy = fp;
    dy = dp;
  } else {
    if (sgnd < 0) {
      sty = stx;
      fy = fx;
      dy = dx;
    }
    stx = stp;
    fx = fp;
    dx = dp;
  }
  return { stx, fx, dx, sty, fy, dy, brackt, stp: stpf };
}

/** Predicted classes: argmax of x·coefᵀ + intercept (sklearn's predict). */
export function predictLogistic(x: Tensor, fit: Pick<LogisticFit, 'coef' | 'intercept'>): number[] {
  return noGrad(() => tidy(() => x.matmul(fit.coef.T).add(fit.intercept).argmax(1).toArray() as number[]));
}

function accuracy(x: Tensor, y: readonly number[], fit: LogisticFit): number {
  const pred = predictLogistic(x, fit);
  return pred.reduce((n, p, i) => n + (p === y[i] ? 1 : 0), 0) / y.length;
}

export interface LpclipStep {
  cLeft: number;
  cRight: number;
  accLeft: number;
  accRight: number;
  /** the classifier this step keeps: the right one when it is strictly better, else the left */
  c: number;
}

export interface LpclipSearch {
  /** the chosen C and its classifier (the last step's) */
  c: number;
  fit: LogisticFit;
  /** validation accuracy (fraction) at each grid value */
  gridAccuracy: number[];
  steps: LpclipStep[];
  /** fits run (one per distinct C: the official script refits repeated values; a fit is deterministic) */
  fits: number;
}

/**
 * lpclip's choice of C: the validation accuracy at each grid value; around the first best, C_left = C/10 and
 * C_right = 10·C; then `steps` times: fit both, keep the right one if strictly better on validation (next range
 * [mid, log C_right] in log10), else the left ([log C_left, mid]). The last step's classifier is the result (with
 * no steps: the grid's best).
 */
export function lpclipSearch(train: LogisticProblem, val: { x: Tensor; y: readonly number[] }, grid: readonly number[], steps: number, o: LbfgsOptions, onFit?: (c: number, fit: LogisticFit) => void): LpclipSearch {
  const fits = new Map<number, LogisticFit>();
  const fitAt = (c: number): LogisticFit => {
    let r = fits.get(c);
    if (!r) {
      r = fitLogistic(train, c, o);
      fits.set(c, r);
      onFit?.(c, r);
    }
    return r;
  };
  try {
    const gridAccuracy = grid.map((c) => accuracy(val.x, val.y, fitAt(c)));
    const peak = grid[gridAccuracy.indexOf(Math.max(...gridAccuracy))];
    let [cLeft, cRight] = [1e-1 * peak, 1e1 * peak];
    const path: LpclipStep[] = [];
    let chosen = peak;
    for (let s = 0; s < steps; s++) {
      const accLeft = accuracy(val.x, val.y, fitAt(cLeft));
      const accRight = accuracy(val.x, val.y, fitAt(cRight));
      let l: number;
      let r: number;
      if (accLeft < accRight) {
        chosen = cRight;
        l = 0.5 * (Math.log10(cRight) + Math.log10(cLeft));
        r = Math.log10(cRight);
      } else {
        chosen = cLeft;
        r = 0.5 * (Math.log10(cRight) + Math.log10(cLeft));
        l = Math.log10(cLeft);
      }
      path.push({ cLeft, cRight, accLeft, accRight, c: chosen });
      [cLeft, cRight] = [10 ** l, 10 ** r];
    }
    const fit = fitAt(chosen);
    fits.delete(chosen);
    return { c: chosen, fit, gridAccuracy, steps: path, fits: fits.size + 1 };
  } finally {
    for (const f of fits.values()) {
      f.coef.dispose();
      f.intercept.dispose();
    }
  }
}
