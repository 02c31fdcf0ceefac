// Types for pkg/worker.js (the Web Worker entry point of localrank).
import type {
  Calibration, Candidate, CreateOptions, DataLayer, Ga4ClearPush, PageContext, Ranked, RememberedEvent, RememberOptions, RerankOptions, ShopperEvent,
} from './localrank.js';

export { assignArm } from './localrank.js';
export type { Arm, ArmOptions } from './localrank.js';

export type Progress =
  | { type: 'progress'; stage: 'download' | 'cache'; file: string; loaded: number; total: number }
  | { type: 'progress'; stage: 'start'; device: string }
  | { type: 'progress'; stage: 'ready' };

/** A request the worker made (resource timing): all are GETs without a body. */
export interface WorkerRequest { type: 'request'; url: string; initiator: string; bytes: number; }

export interface WorkerCreateOptions extends Omit<CreateOptions, 'model' | 'onProgress'> {
  /** URL of the model directory (the worker fetches the files itself, with progress). */
  model: string;
  onProgress?: (p: Progress) => void;
  onRequest?: (r: WorkerRequest) => void;
  /** The worker script's URL: localrank's worker-entry.js (or worker.js) where a setup serves it
   * elsewhere (default: ./worker-entry.js next to this module, which bundlers emit as a chunk). */
  workerUrl?: string | URL;
}

export class LocalRankerWorker {
  static create(options: WorkerCreateOptions): Promise<LocalRankerWorker>;
  /** As LocalRanker.clearModelCache (the page and its workers share the origin's cache). */
  static clearModelCache(): Promise<boolean>;
  readonly backend: 'webgpu' | 'cpu';
  readonly fallbackReason: string | null;
  /** As LocalRanker.calibration (null when 'auto' did not calibrate). The worker has no
   * localStorage: the page reads the stored decisions, passes them in, and stores a new one. */
  readonly calibration: Calibration | null;
  readonly modelName: string;
  readonly modelVersion: string;
  readonly modelBytes: number;
  /** As LocalRanker.modelSource: 'cache' or 'network' (the worker always loads from a URL). */
  readonly modelSource: 'cache' | 'network';
  readonly sessionLength: number;
  /** As LocalRanker.historyKey: `remember` keeps the events in the page's localStorage (a worker
   * has none): the page passes them in at create and appends what each observe recorded. */
  readonly historyKey: string;
  /** As LocalRanker.observe; resolves to the session length. */
  observe(event: ShopperEvent | Ga4ClearPush): Promise<number>;
  /** As LocalRanker.connectDataLayer; each entry is read on the page into a plain copy of the
   * fields localrank reads (GTM's pushes carry functions, which cannot be sent to a worker). */
  connectDataLayer(dataLayer?: DataLayer): () => void;
  rerank(candidates: Candidate[], context?: PageContext, options?: RerankOptions): Promise<Ranked[]>;
  exportSession(): Promise<string>;
  importSession(json: string): Promise<void>;
  setPersist(on: boolean): Promise<void>;
  setRemember(on: boolean | RememberOptions): Promise<void>;
  rememberedEvents(): Promise<RememberedEvent[]>;
  clear(): Promise<void>;
  dispose(): void;
}
