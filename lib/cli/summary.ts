/** The results table printed at the end of `train`, `eval` and `demo`. */
import type { ModelReport } from '../report/types.js';
import { duration, metric, textTable } from './common.js';

export function resultsTable(models: ModelReport[], time: (m: ModelReport) => number, timeLabel = 'time'): string {
  const header = ['model', 'AUC', 'QAUC', 'UAUC', 'log-loss', 'cold-start AUC', 'cold-start QAUC', timeLabel];
  const rows = models.map((m) => [
    m.name,
    metric(m.final.all.auc),
    metric(m.final.all.qauc.mean),
    metric(m.final.all.uauc.mean),
    metric(m.final.all.logLoss),
    metric(m.final.coldStart?.auc),
    metric(m.final.coldStart?.qauc.mean),
    duration(time(m)),
  ]);
  return textTable(header, rows);
}
