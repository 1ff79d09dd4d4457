/**
 * Group fairness metrics for one protected attribute, with fairlearn's definitions:
 * demographic parity compares selection rates, equal opportunity compares true-positive rates,
 * and equalised odds takes the larger of the TPR and FPR gaps.
 */
import { auc, type Labels, type Scores } from './classification.ts';

export interface GroupMetrics {
  readonly size: number;
  /** Share predicted positive. */
  readonly selectionRate: number;
  /** null when the group has no positives (TPR, FNR) or no negatives (FPR). */
  readonly tpr: number | null;
  readonly fpr: number | null;
  readonly fnr: number | null;
  /** null when the group lacks one of the classes. */
  readonly auc: number | null;
}

export interface FairnessReport {
  readonly groups: Readonly<Record<string, GroupMetrics>>;
  readonly demographicParityDifference: number;
  /** min/max selection rate; the four-fifths rule asks for ≥ 0.8. 1 when nobody is selected. */
  readonly demographicParityRatio: number;
  readonly equalOpportunityDifference: number;
  readonly equalizedOddsDifference: number;
}

/** Metrics per group; `groups[i]` is row i's group. */
export function groupMetrics(
  y: Labels,
  p: Scores,
  groups: ArrayLike<string>,
  threshold = 0.5,
): Record<string, GroupMetrics> {
  const rows = new Map<string, number[]>();
  for (let i = 0; i < y.length; i++) {
    const g = groups[i] as string;
    let list = rows.get(g);
    if (!list) {
      list = [];
      rows.set(g, list);
    }
    list.push(i);
  }
  const result: Record<string, GroupMetrics> = {};
  for (const g of [...rows.keys()].sort()) {
    const idx = rows.get(g) as number[];
    let selected = 0;
    let pos = 0;
    let neg = 0;
    let tp = 0;
    let fp = 0;
    for (const i of idx) {
      const chosen = (p[i] as number) >= threshold;
      if (chosen) selected++;
      if (y[i] === 1) {
        pos++;
        if (chosen) tp++;
      } else {
        neg++;
        if (chosen) fp++;
      }
    }
    const tpr = pos === 0 ? null : tp / pos;
    const groupAuc =
      pos === 0 || neg === 0
        ? null
        : auc(
            idx.map((i) => y[i] as number),
            idx.map((i) => p[i] as number),
          );
    result[g] = {
      size: idx.length,
      selectionRate: selected / idx.length,
      tpr,
      fpr: neg === 0 ? null : fp / neg,
      fnr: tpr === null ? null : 1 - tpr,
      auc: groupAuc,
    };
  }
  return result;
}

function spread(values: readonly (number | null)[]): number {
  const present = values.filter((v): v is number => v !== null);
  return present.length === 0 ? 0 : Math.max(...present) - Math.min(...present);
}

export function fairness(y: Labels, p: Scores, groups: ArrayLike<string>, threshold = 0.5): FairnessReport {
  const perGroup = groupMetrics(y, p, groups, threshold);
  const all = Object.values(perGroup);
  const selection = all.map((g) => g.selectionRate);
  const maxSelection = Math.max(...selection);
  const tprGap = spread(all.map((g) => g.tpr));
  return {
    groups: perGroup,
    demographicParityDifference: spread(selection),
    demographicParityRatio: maxSelection === 0 ? 1 : Math.min(...selection) / maxSelection,
    equalOpportunityDifference: tprGap,
    equalizedOddsDifference: Math.max(tprGap, spread(all.map((g) => g.fpr))),
  };
}
