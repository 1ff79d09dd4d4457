/**
 * Distributions of Kolmogorov–Smirnov statistics, ported from scipy so Keel's KS p-values are
 * scipy's: the exact two-sample null distribution (`ks_2samp`'s "exact" method, lattice-path
 * counting: Hodges' inside method with Viehmann's 1 − p recursion, and the closed form for
 * equal sizes), the one-sample two-sided distribution `kstwo.sf` (Simard & L'Ecuyer's choice of
 * Ruben–Gambino, Durbin–Marsaglia–Tsang–Wang, Pomeranz, Pelz–Good and Smirnov's formula),
 * which `ks_2samp`'s "asymp" method evaluates at n = round(n·m/(n+m)), and Smirnov's one-sided
 * distribution. Hand-written: no JavaScript library provides these. Checked against scipy
 * 1.17 in test/unit/core/kolmogorov.test.ts.
 */
import gammaln from '@stdlib/math-base-special-gammaln';

const E128 = 128;
const EP128 = 2 ** E128;
const EM128 = 2 ** -E128;
const SQRT2PI = Math.sqrt(2 * Math.PI);
const LOG_2PI = Math.log(2 * Math.PI);
const MIN_LOG = -708;
const SQRT3 = Math.sqrt(3);
const PI2 = Math.PI ** 2;
const PI4 = Math.PI ** 4;
const PI6 = Math.PI ** 6;
// B₂ⱼ / (2j(2j − 1)) for j = 8…1, the Stirling series coefficients (as scipy's _STIRLING_COEFFS).
const STIRLING = [-3617 / 122_400, 7 / 1092, -691 / 360_360, 1 / 1188, -1 / 1680, 1 / 1260, -1 / 360, 1 / 12];

const clip = (p: number) => Math.min(1, Math.max(0, p));

function polyval(coefficients: readonly number[], x: number): number {
  return coefficients.reduce((acc, c) => acc * x + c, 0);
}

/** log(n! / nⁿ) by Stirling, with n·log n taken out first (no cancellation). */
function logNFactorialDivNPowN(n: number): number {
  const rn = 1 / n;
  return Math.log(n) / 2 - n + LOG_2PI / 2 + rn * polyval(STIRLING, rn / n);
}

// ── Two-sample exact ───────────────────────────────────────────────────────────

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** P(D_{n,n} ≥ h/n): Horner form of the alternating binomial series (scipy's `_compute_prob_outside_square`). */
function probOutsideSquare(n: number, h: number): number {
  let p = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    p = p1 * (1 - p);
  }
  return 2 * p;
}

/**
 * Share of lattice paths from (0,0) to (m,n) leaving |x/m − y/n| < h/lcm(m,n), computed as
 * 1 − p directly (scipy's `_compute_outer_prob_inside_method`; Viehmann 2021).
 */
function outerProbInside(m0: number, n0: number, g: number, h: number): number {
  const [m, n] = m0 < n0 ? [n0, m0] : [m0, n0];
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const a = new Float64Array(Math.max(lenA, 1)).fill(1);
  for (let j = minj; j < maxj; j++) a[j] = 0;
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = ((a[jj + minj - lastminj] as number) * i + val * j) / (i + j);
      a[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) a.fill(1, maxj - minj, maxj - minj + (lastlen - curlen));
  }
  return a[maxj - minj - 1] as number;
}

/**
 * Exact two-sided p-value of a two-sample statistic `d` for sample sizes n and m, as
 * `ks_2samp(method="exact")`; `undefined` where the computation fails (scipy then falls back
 * to the asymptotic method). `d` is first rounded to the lattice of attainable values.
 */
export function ks2ExactPValue(n: number, m: number, d: number): number | undefined {
  const g = gcd(n, m);
  const lcm = (n / g) * m;
  const h = Math.round(d * lcm);
  if (h === 0) return 1;
  const p = n === m ? probOutsideSquare(n, h) : outerProbInside(n, m, g, h);
  return Number.isFinite(p) && p >= 0 && p <= 1 ? p : undefined;
}

// ── One-sided Smirnov ──────────────────────────────────────────────────────────

function logChoose(n: number, k: number): number {
  return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1);
}

/**
 * P(D⁺ₙ ≥ x), Smirnov's one-sided statistic (scipy.special.smirnov), by the Birnbaum–Tingey
 * sum x·Σⱼ C(n,j)(1 − x − j/n)^(n−j)(x + j/n)^(j−1) over j ≤ ⌊n(1 − x)⌋, every term positive
 * and summed from logs. scipy sums in double-double; this agrees with it to ~1e-12 relative.
 */
export function smirnov(n: number, x: number): number {
  if (!(n > 0 && x >= 0 && x <= 1)) return Number.NaN;
  if (n === 1) return 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const last = Math.floor(n * (1 - x) + 1e-12);
  let sum = 0;
  for (let j = 0; j <= last; j++) {
    const upper = 1 - x - j / n;
    if (upper <= 0 && n - j > 0) continue;
    const logTerm =
      logChoose(n, j) + (n - j > 0 ? (n - j) * Math.log(upper) : 0) + (j - 1) * Math.log(x + j / n);
    sum += Math.exp(logTerm);
  }
  return clip(x * sum);
}

// ── One-sample two-sided (kstwo) ───────────────────────────────────────────────

function matmul(a: Float64Array, b: Float64Array, m: number): Float64Array<ArrayBuffer> {
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      const aik = a[i * m + k] as number;
      if (aik === 0) continue;
      for (let j = 0; j < m; j++)
        out[i * m + j] = (out[i * m + j] as number) + aik * (b[k * m + j] as number);
    }
  }
  return out;
}

/** Pr(Dₙ ≤ d) by the Durbin matrix, Marsaglia–Tsang–Wang's scaled powers (scipy `_kolmogn_DMTW`). */
function kolmogDMTW(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;
  let H = new Float64Array(m * m);
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let fac = 1;
  for (let j = 1; j <= m; j++) {
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] = (1 - h ** j) * fac;
  }
  const tt = Math.max(2 * h - 1, 0) ** m - 2 * h ** m;
  v[m - 1] = (1 + tt) * fac;
  for (let i = 1; i < m; i++) for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - (i - 1)] as number;
  for (let r = 0; r < m; r++) H[r * m] = v[r] as number;
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c] as number;

  let power = new Float64Array(m * m);
  for (let i = 0; i < m; i++) power[i * m + i] = 1;
  let nn = n;
  let exponent = 0;
  let hExponent = 0;
  while (nn > 0) {
    if (nn % 2) {
      power = matmul(power, H, m);
      exponent += hExponent;
    }
    H = matmul(H, H, m);
    hExponent *= 2;
    if (Math.abs(H[(k - 1) * m + (k - 1)] as number) > EP128) {
      for (let i = 0; i < H.length; i++) H[i] = (H[i] as number) / EP128;
      hExponent += E128;
    }
    nn = Math.floor(nn / 2);
  }
  let p = power[(k - 1) * m + (k - 1)] as number;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < EM128) {
      p *= EP128;
      exponent -= E128;
    }
  }
  return exponent !== 0 ? p * 2 ** exponent : p;
}

function pomeranzJ(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const ip1div2 = Math.floor((i + 1) / 2);
    const ip1mod2 = (i + 1) % 2;
    if (ip1mod2 === 0) {
      if (ip1div2 === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = ip1div2 - 1 - ll - roundf - 1;
        j2 = ip1div2 + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = ip1div2 - 1 - ll - 1;
      j2 = ip1div2 + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/** Pr(Dₙ ≤ x) by Pomeranz's recursion (scipy `_kolmogn_Pomeranz`). */
function kolmogPomeranz(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  const gpower = new Float64Array(npwrs);
  const twogpower = new Float64Array(npwrs);
  const onem2gpower = new Float64Array(npwrs);
  gpower[0] = 1;
  twogpower[0] = 1;
  onem2gpower[0] = 1;
  let exponent = 0;
  for (let m = 1; m < npwrs; m++) {
    gpower[m] = ((gpower[m - 1] as number) * (g / n)) / m;
    twogpower[m] = ((twogpower[m - 1] as number) * ((2 * g) / n)) / m;
    onem2gpower[m] = ((onem2gpower[m - 1] as number) * ((1 - 2 * g) / n)) / m;
  }
  let v0 = new Float64Array(npwrs);
  let v1 = new Float64Array(npwrs);
  v1[0] = 1;
  let v0s = 0;
  let v1s = 0;
  let [j1, j2] = pomeranzJ(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [v0, v1] = [v1, v0];
    [v0s, v1s] = [v1s, v0s];
    v1.fill(0);
    [j1, j2] = pomeranzJ(i, n, ll, ceilf, roundf);
    const pwrs = i === 1 || i === 2 * n + 1 ? gpower : i % 2 ? twogpower : onem2gpower;
    const ln2 = j2 - k1 + 1;
    if (ln2 > 0) {
      // conv = convolve(v0[k1 − v0s : k1 − v0s + ln2], pwrs[:ln2]); keep entries j1 − k1 … j2 − k1.
      const start = j1 - k1;
      const count = j2 - j1 + 1;
      for (let c = 0; c < count; c++) {
        const idx = start + c;
        let s = 0;
        for (let p = Math.max(0, idx - (ln2 - 1)); p <= Math.min(idx, ln2 - 1); p++) {
          s += (v0[k1 - v0s + p] as number) * (pwrs[idx - p] as number);
        }
        v1[c] = s;
      }
      let max = 0;
      for (let c = 0; c < count; c++) max = Math.max(max, v1[c] as number);
      if (max > 0 && max < EM128) {
        for (let c = 0; c < count; c++) v1[c] = (v1[c] as number) * EP128;
        exponent -= E128;
      }
      v1s = v0s + j1 - k1;
    }
  }
  let answer = v1[n - v1s] as number;
  for (let m = 1; m <= n; m++) {
    if (Math.abs(answer) > EP128) {
      answer *= EM128;
      exponent += E128;
    }
    answer *= m;
  }
  return exponent !== 0 ? answer * 2 ** exponent : answer;
}

/** Pelz–Good approximation of Pr(Dₙ ≤ x) (scipy `_kolmogn_PelzGood`). */
function kolmogPelzGood(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const z = Math.sqrt(n) * x;
  const z2 = z ** 2;
  const z3 = z ** 3;
  const z4 = z ** 4;
  const z6 = z ** 6;
  const qlog = -PI2 / 8 / z2;
  if (qlog < MIN_LOG) return 0;
  let q = Math.exp(qlog);
  const k1a = -z2;
  const k1b = PI2 / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * PI2) / 4;
  const k2c = (PI4 * (1 - 2 * z2)) / 16;
  const k3d = (PI6 * (5 - 30 * z2)) / 64;
  const k3c = (PI4 * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (PI2 * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;
  const K = [0, 0, 0, 0];
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m ** 2;
    const m4 = m ** 4;
    const m6 = m ** 6;
    const qpower = q ** (8 * k);
    const coefficients = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
    for (let i = 0; i < 4; i++) K[i] = (K[i] as number) * qpower + (coefficients[i] as number);
  }
  const divisors = [z, 6 * z4, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) K[i] = ((K[i] as number) * q * SQRT2PI) / (divisors[i] as number);
  q = Math.exp(-PI2 / 2 / z2);
  let k2extra = 0;
  let k3extra = 0;
  const sqrt3z = SQRT3 * z;
  for (let k = maxk; k > 0; k--) {
    const k2 = k * k;
    const qp = q ** k2;
    k2extra += k2 * qp;
    const kpi = Math.PI * k;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qp;
  }
  K[2] = (K[2] as number) + (k2extra * PI2 * SQRT2PI) / (-36 * z3);
  K[3] = (K[3] as number) + (k3extra * PI2 * SQRT2PI) / (216 * z6);
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += (K[i] as number) / n ** (i / 2);
  return sum;
}

/** Product of (k/n)(2t − 1) over k = 1…n, the Ruben–Gambino lower tail (n ≤ 140). */
function rubenGambino(n: number, t: number): number {
  if (n <= 140) {
    let p = 1;
    for (let k = 1; k <= n; k++) p *= (k / n) * (2 * t - 1);
    return p;
  }
  return Math.exp(logNFactorialDivNPowN(n) + n * Math.log(2 * t - 1));
}

/**
 * Survival function of the two-sided one-sample KS statistic Dₙ (scipy `kstwo.sf(x, n)`),
 * following Simard & L'Ecuyer's choice of method by n and n·x².
 */
export function kstwoSf(n: number, x: number): number {
  if (!Number.isInteger(n) || n <= 0) return Number.NaN;
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    if (t <= 0.5) return 1;
    return clip(1 - rubenGambino(n, t));
  }
  if (t >= n - 1) return clip(2 * (1 - x) ** n);
  if (x >= 0.5) return clip(2 * smirnov(n, x));
  const nx2 = t * x;
  if (n <= 140) {
    if (nx2 <= 0.754693) return clip(1 - kolmogDMTW(n, x));
    if (nx2 <= 4) return clip(1 - kolmogPomeranz(n, x));
    return clip(2 * smirnov(n, x));
  }
  if (nx2 >= 370) return 0;
  if (nx2 >= 2.2) return clip(2 * smirnov(n, x));
  const cdf = nx2 >= 18 ? 1 : n <= 100_000 && n * x ** 1.5 <= 1.4 ? kolmogDMTW(n, x) : kolmogPelzGood(n, x);
  return clip(1 - cdf);
}
