/**
 * Model selection on a validation split: which number of an evaluation is followed, which
 * direction is better, and the early-stopping state (best so far, evaluations since an
 * improvement) that fit() keeps and a checkpoint carries across a resume.
 */
import type { EarlyStoppingConfig, SelectionMetric } from './config.js';
import { LemurError } from './errors.js';
import type { RankingMetrics } from './metrics.js';

/** The followed number of an evaluation's metrics (NaN where it is undefined). */
export function selectionValue(metric: SelectionMetric, m: RankingMetrics): number {
  switch (metric) {
    case 'qauc':
      return m.qauc.mean;
    case 'qaucWeighted':
      return m.qauc.weighted;
    case 'uauc':
      return m.uauc.mean;
    case 'auc':
      return m.auc;
    case 'logLoss':
      return m.logLoss;
  }
}

/** Lower is better only for the log-loss. */
export function higherIsBetter(metric: SelectionMetric): boolean {
  return metric !== 'logLoss';
}

/** One validation evaluation as early stopping saw it. */
export interface SelectionPoint {
  step: number;
  epoch: number;
  value: number;
}

/** The early-stopping state of a model (saved in checkpoints, so a resume continues it). */
export interface SelectionState {
  metric: SelectionMetric;
  split: string;
  /** The best evaluation so far. */
  best?: SelectionPoint & { position: { epoch: number; batch: number } };
  /** Evaluations since the best one. */
  sinceBest: number;
  /** Set when patience ran out: training is over for this model. */
  stoppedAt?: number;
  history: SelectionPoint[];
}

export function newSelectionState(config: EarlyStoppingConfig): SelectionState {
  return { metric: config.metric, split: config.split, sinceBest: 0, history: [] };
}

/**
 * Records an evaluation; returns whether it is the new best. A value that is not a number
 * (e.g. a validation split whose every query has one class) is an error: selecting on it
 * would be silently arbitrary.
 */
export function recordSelection(
  state: SelectionState,
  config: EarlyStoppingConfig,
  point: SelectionPoint,
  position: { epoch: number; batch: number },
): boolean {
  if (!Number.isFinite(point.value))
    throw new LemurError(
      `early stopping: ${state.metric} on split '${state.split}' is ${point.value} at step ${point.step}` +
        (state.metric.startsWith('qauc') || state.metric === 'uauc'
          ? ' (no query has both clicked and unclicked rows there); choose train.earlyStopping.metric: auc or logLoss'
          : ' (the split has a single class)'),
    );
  state.history.push(point);
  const better = state.best === undefined || (higherIsBetter(state.metric) ? point.value > state.best.value + config.minDelta : point.value < state.best.value - config.minDelta);
  if (better) {
    state.best = { ...point, position: { ...position } };
    state.sinceBest = 0;
  } else {
    state.sinceBest++;
    if (state.sinceBest >= config.patience) state.stoppedAt = point.step;
  }
  return better;
}
