// Types of localrank's public API (js/localrank.js).

/** Where the model comes from: the URL of its directory, or the three files' bytes. */
export interface ModelBytes { manifest: Uint8Array; weights: Uint8Array; tokenizer: Uint8Array; }
export interface LoadProgress { stage: 'download'; file: string; loaded: number; total: number; }
export interface CreateOptions {
  model: string | ModelBytes;
  /** 'auto' (default): WebGPU when this build has it (the `localrank/webgpu` build; the default
   * build is CPU only) and the browser offers an adapter, else the CPU backend. */
  device?: 'auto' | 'webgpu' | 'cpu';
  /** Events kept; the oldest are dropped (default: the model's window). */
  maxSession?: number;
  /** Keep the session in sessionStorage across reloads of this tab (default false). */
  persist?: boolean;
  /** The sha256 of the manifest.json the site reviewed (64 hex characters, or SRI
   * "sha256-<base64>"): any other manifest (and so any other model file) is refused. */
  integrity?: string;
  onProgress?: (p: LoadProgress) => void;
}
/** GA4 e-commerce event names. */
export type EventName = 'view_item' | 'select_item' | 'add_to_cart' | 'purchase' | 'search';
/** A GA4 e-commerce item as storefronts push it to their dataLayer. */
export interface Ga4Item { item_id?: string | number; item_name?: string; item_category?: string; price?: number | string; [k: string]: unknown; }
export interface ShopperEvent {
  event: EventName;
  id?: string | number; item_id?: string | number;
  title?: string; item_name?: string;
  category?: string; item_category?: string;
  price?: number | string;
  /** Milliseconds since the Unix epoch (default: now). */
  timestamp?: number;
  dwellMs?: number;
  /** For `search` events. */
  query?: string; search_term?: string;
  /** The GA4 shape: the first item is the product when `id`/`item_id` are absent. */
  ecommerce?: { items?: Ga4Item[]; [k: string]: unknown };
  [k: string]: unknown;
}
export interface Candidate {
  id: string | number;
  title: string;
  category?: string;
  price?: number | string;
  /** The server's popularity figure; used by the `longTail` option when every candidate has one. */
  popularity?: number;
}
export interface PageContext {
  /** Milliseconds since the Unix epoch; hour and weekday default to this time's, in UTC. */
  timestamp?: number;
  /** 0..23, UTC: the clock of the training logs (manifest `inputs.clock`). */
  hour?: number;
  /** 0 = Sunday, UTC. */
  weekday?: number;
  device?: 'desktop' | 'mobile' | 'tablet';
  pageType?: 'home' | 'search' | 'category' | 'product' | 'cart' | 'checkout';
  category?: string | null;
  promotion?: boolean;
  query?: string | null;
}
export interface RerankOptions {
  topK?: number;
  /** Weight of the on-device model against the server order, 0..1 (default 0.9). */
  personalization?: number;
  /** 0..1: trade accuracy for long-tail items and category diversity (default 0). */
  longTail?: number;
  /** Also return each candidate's `reasons` ("Why here?"); costs one batched forward pass
   * with one extra session per event and per known context field (default false). */
  explain?: boolean;
}
/** A session event or a context field that raised (effect > 0) or lowered (effect < 0) a
 * candidate: its blended score with the signal minus without it (occlusion). */
export type Reason =
  | { source: 'event'; index: number; event: EventName; itemId?: string; title?: string; query?: string; effect: number }
  | { source: 'context'; field: 'hour' | 'weekday' | 'device' | 'pageType' | 'category' | 'promotion' | 'query'; value: string; effect: number };
export interface Ranked {
  id: string; score: number; serverRank: number;
  /** With `explain: true`: the strongest raising reasons first, then the lowering ones (up to 3 each). */
  reasons?: Reason[];
}

/** An on-device reranker. Every method settles: it resolves (or returns) or rejects (or throws)
 * an `Error` whose message says what was wrong and where; a failed call changes nothing. */
export class LocalRanker {
  private constructor();
  static create(options: CreateOptions): Promise<LocalRanker>;
  readonly backend: 'webgpu' | 'cpu';
  readonly fallbackReason: string | undefined;
  readonly modelName: string;
  readonly modelVersion: string;
  readonly modelBytes: number;
  readonly sessionLength: number;
  /** The sessionStorage key of this model's session. */
  readonly storageKey: string;
  observe(event: ShopperEvent): void;
  rerank(candidates: Candidate[], context?: PageContext | null, options?: RerankOptions | null): Promise<Ranked[]>;
  setPersist(on: boolean): void;
  exportSession(): string;
  importSession(json: string): void;
  clear(): void;
  dispose(): void;
}

/** Loads the wasm (by default from next to this file); `LocalRanker.create` calls it when needed. */
export default function init(moduleOrPath?: unknown): Promise<unknown>;
export function initSync(module: unknown): unknown;
