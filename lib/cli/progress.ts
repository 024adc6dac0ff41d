/**
 * Progress of long work: a cli-progress bar on a terminal (step/total, samples/s, loss, ETA,
 * bank coverage), plain log lines on anything else (CI, pipes, files). Both write to stderr,
 * so stdout carries only results.
 */
import cliProgress from 'cli-progress';

import type { Evaluation, Progress } from '../model.js';
import { count, duration, isQuiet, metric } from './common.js';

export interface ProgressView {
  /** A model starts: `total` is the global step it trains to, `start` the step it starts at. */
  begin(model: string, start: number, total: number): void;
  progress(p: Progress, total: number): void;
  evaluation(ev: Evaluation): void;
  /** A line that must not tear the bar. */
  note(line: string): void;
  end(): void;
}

export function percent(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '—' : `${Math.round(v * 100)}%`;
}

function bankText(p: Progress): string {
  if (!p.bank) return '';
  const s = p.bank.staleness !== undefined && Number.isFinite(p.bank.staleness) ? ` sim ${p.bank.staleness.toFixed(2)}` : '';
  return `bank ${percent(p.bank.targetCoverage)}/${percent(p.bank.historyCoverage)}${s}`;
}

export function evaluationText(ev: Evaluation): string {
  const a = ev.all;
  const cold = ev.coldStart ? `  cold AUC ${metric(ev.coldStart.auc)} QAUC ${metric(ev.coldStart.qauc.mean)}` : '';
  const notes = ev.notes?.length ? `\n  (${ev.notes.join('; ')})` : '';
  return `${ev.split} at step ${ev.step}: AUC ${metric(a.auc)}  QAUC ${metric(a.qauc.mean)}  UAUC ${metric(a.uauc.mean)}  log-loss ${metric(a.logLoss)}${cold}${notes}`;
}

/** Plain lines, one per progress report (every `progressEvery` steps). */
export class LineView implements ProgressView {
  private model = '';
  constructor(private readonly write: (line: string) => void = (l) => void process.stderr.write(l + '\n')) {}

  begin(model: string, start: number, total: number): void {
    this.model = model;
    this.write(`${model}: training from step ${start} to ${total}`);
  }

  progress(p: Progress, total: number): void {
    const width = String(total).length;
    const parts = [
      `${this.model}: step ${String(p.step).padStart(width)}/${total}`,
      `epoch ${p.batch === 0 ? p.epoch : p.epoch + 1}`,
      `loss ${p.loss.toFixed(4)}`,
      `${count(p.samplesPerSecond)} samples/s`,
      bankText(p),
      p.phase === 'pretrain' ? 'pre-training' : '',
      `ETA ${duration(p.eta)}`,
    ];
    this.write(parts.filter(Boolean).join('  '));
  }

  evaluation(ev: Evaluation): void {
    this.write(`${this.model}: ${evaluationText(ev)}`);
  }

  note(line: string): void {
    this.write(line);
  }

  end(): void {}
}

/** A cli-progress bar on a TTY. */
export class BarView implements ProgressView {
  private multi: cliProgress.MultiBar | undefined;
  private bar: cliProgress.SingleBar | undefined;
  private model = '';
  private lastEval = '';
  private last: Progress | undefined;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  begin(model: string, start: number, total: number): void {
    this.end();
    this.model = model;
    this.lastEval = '';
    this.last = undefined;
    this.multi = new cliProgress.MultiBar(
      {
        stream: this.stream,
        format: '{model} {bar} {value}/{total} | ETA {etaText} | {rate} samples/s | loss {loss}{bank}{auc}',
        barsize: 20,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        forceRedraw: false,
        autopadding: true,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar = this.multi.create(Math.max(total, 1), start, this.payload());
  }

  private payload(p: Progress | undefined = this.last) {
    return {
      model: this.model,
      rate: p ? count(p.samplesPerSecond) : '—',
      loss: p ? p.loss.toFixed(4) : '—',
      bank: p?.bank ? ` | ${bankText(p)}` : '',
      auc: this.lastEval,
      etaText: p ? duration(p.eta) : '—',
    };
  }

  progress(p: Progress, total: number): void {
    if (!this.bar) return;
    this.last = p;
    this.bar.setTotal(Math.max(total, 1));
    this.bar.update(p.step, this.payload(p));
  }

  evaluation(ev: Evaluation): void {
    this.lastEval = ` | AUC ${metric(ev.all.auc)}`;
    this.bar?.update(this.payload());
    this.note(`${this.model}: ${evaluationText(ev)}`);
  }

  note(line: string): void {
    if (this.multi) this.multi.log(line + '\n');
    else this.stream.write(line + '\n');
  }

  end(): void {
    this.multi?.stop();
    this.multi = undefined;
    this.bar = undefined;
  }
}

/** The bar on an interactive stderr, plain lines otherwise (and whenever CI is set). */
export function progressView(): ProgressView {
  if (isQuiet()) return new LineView(() => {});
  return process.stderr.isTTY && !process.env.CI && process.env.TERM !== 'dumb' ? new BarView() : new LineView();
}
