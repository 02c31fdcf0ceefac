// Types of localrank's public API (js/localrank.js).

/** Where the model comes from: the URL of its directory, or the three files' bytes. */
export interface ModelBytes { manifest: Uint8Array; weights: Uint8Array; tokenizer: Uint8Array; }
/** 'download': bytes of a model file arriving; 'cache': a model file read from the model cache. */
export interface LoadProgress { stage: 'download' | 'cache'; file: string; loaded: number; total: number; }
export interface CreateOptions {
  model: string | ModelBytes;
  /** 'auto' (default): in the CPU-only default build the CPU. In the `localrank/webgpu` build,
   * when the browser offers an adapter, the backend a calibration found faster on this device
   * (`LocalRanker.calibration`; stored per origin and model version in localStorage), else the
   * CPU. 'webgpu' forces WebGPU (an error without an adapter or in the CPU build); 'cpu' the CPU. */
  device?: 'auto' | 'webgpu' | 'cpu';
  /** Events kept; the oldest are dropped (default: the model's window). */
  maxSession?: number;
  /** Keep the session in sessionStorage across reloads of this tab (default false). */
  persist?: boolean;
  /** Keep the shopper's events across visits on this device (localStorage of the site's origin,
   * `historyKey`), never sent anywhere; the next `create` reads them back into the session.
   * `true`: the defaults `{ days: 30, maxEvents: 500 }`; `days` 1..365, `maxEvents` 1..5000.
   * Default off. docs/api.md "Returning shoppers". */
  remember?: boolean | RememberOptions;
  /** The sha256 of the manifest.json the site reviewed (64 hex characters, or SRI
   * "sha256-<base64>"): any other manifest (and so any other model file) is refused. */
  integrity?: string;
  /** Keep the model files in the browser's Cache API between visits (default true): a second
   * visit downloads no model file; with `integrity`, not even manifest.json. Each read is checked
   * against the manifest's size and sha256 like a download; a new model version replaces the old
   * entries; where the Cache API is missing or fails, the files are downloaded. docs/api.md. */
  cache?: boolean;
  onProgress?: (p: LoadProgress) => void;
}
/** Bounds of the remembered events: none older than `days`, at most `maxEvents` (the newest). */
export interface RememberOptions { days?: number; maxEvents?: number; }
/** One remembered event (`rememberedEvents()`): `at` in ms since 1970; `earlierVisit` when it is
 * before the current visit (a visit ends after 30 minutes without an event). */
export interface RememberedEvent {
  event: EventName; itemId: string | null; title: string; category: string; query?: string | null; at: number; earlierVisit: boolean;
}
/** `assignArm` options: the experiment's name (1..64 characters, default 'localrank') and the
 * share of browsers in the reranked arm (0..1, default 0.5). */
export interface ArmOptions { experiment?: string; share?: number; }
export interface Arm {
  experiment: string;
  /** 'reranked': show localrank's order; 'server': show the server's order. */
  arm: 'reranked' | 'server';
  share: number;
  /** When this browser's draw was made (ms since 1970). */
  assignedAt: number;
  /** false where localStorage is unavailable: the draw then holds for this page load only. */
  stable: boolean;
}
/**
 * Assigns this browser to an arm of an experiment, locally: one random 32-bit draw kept in
 * localStorage (`localrank.arm.v1:<experiment>`); 'reranked' when draw / 2^32 < share. Stable
 * across reloads and tabs; a changed share re-reads the same draw. Sends nothing: the storefront
 * tags the orders it already receives with the arm. docs/api.md "Measuring uplift".
 */
export function assignArm(options?: ArmOptions): Arm;
/** The event names localrank records (GA4's e-commerce names). */
export type EventName = 'view_item' | 'select_item' | 'add_to_cart' | 'purchase' | 'search';
/** GA4's other recommended and automatically collected event names: `observe` accepts them and
 * records nothing, so a storefront may hand over its whole GA4 stream. Any other name is an error. */
export type IgnoredGa4EventName =
  | 'page_view' | 'view_item_list' | 'view_cart' | 'remove_from_cart' | 'add_to_wishlist' | 'begin_checkout'
  | 'add_shipping_info' | 'add_payment_info' | 'refund' | 'view_promotion' | 'select_promotion'
  | 'view_search_results' | 'generate_lead' | 'login' | 'sign_up' | 'share' | 'select_content'
  | 'session_start' | 'first_visit' | 'user_engagement' | 'scroll' | 'click' | 'file_download'
  | 'form_start' | 'form_submit' | 'video_start' | 'video_progress' | 'video_complete';
/**
 * A price: a finite number, or a decimal string as storefronts push them: "11.99" (surrounding
 * spaces, a sign and an exponent allowed) or, with a decimal comma, "11,99" (one comma followed by
 * one or two digits, no point). Anything else ("1,299", "1.299,00", "$11.99", "") is an error
 * naming the field.
 */
export type Price = number | string;
/** A GA4 e-commerce item as storefronts push it to their dataLayer. */
export interface Ga4Item {
  item_id?: string | number;
  /** When absent (or blank), the title of the candidate with this `item_id` in an earlier
   * `rerank` of this ranker (the latest 5,000 candidate ids are kept, in memory only; `clear()`
   * forgets them); with no such candidate the event is an error naming the field. */
  item_name?: string;
  /** The category path is `item_category` .. `item_category5` joined as "A / B / C" (empty
   * levels skipped), unless the item has `category`. */
  item_category?: string; item_category2?: string; item_category3?: string; item_category4?: string; item_category5?: string;
  price?: Price;
  [k: string]: unknown;
}
/**
 * A shopper event: flat (`{ event, id, title, category }`) or in the GA4 shape storefronts push,
 * `{ event, ecommerce: { items: [...] } }`, where each item is one event (same name and time, in
 * item order; a `search` takes the first item only). Several items are recorded all or none: an
 * invalid item records nothing and the error names it, e.g.
 * `observe: event.ecommerce.items[2].item_name: expected a string, got a number`.
 */
export interface ShopperEvent {
  event: EventName | IgnoredGa4EventName;
  id?: string | number; item_id?: string | number;
  /** Absent with an id: as `Ga4Item.item_name`. */
  title?: string; item_name?: string;
  category?: string; item_category?: string; item_category2?: string; item_category3?: string; item_category4?: string; item_category5?: string;
  price?: Price;
  /** Milliseconds since the Unix epoch (default: now). */
  timestamp?: number;
  dwellMs?: number;
  /** For `search` events (`search_term` is GA4's name). */
  query?: string; search_term?: string;
  /** The GA4 shape: read when `id`/`item_id` are absent; an empty or missing `items` leaves the
   * product to the event's own fields. At most 1,000 items. */
  ecommerce?: { items?: Ga4Item[]; [k: string]: unknown } | null;
  [k: string]: unknown;
}
/** `{ ecommerce: null }`: the push storefronts make to clear GTM's previous e-commerce object;
 * `observe` accepts it and records nothing. */
export interface Ga4ClearPush { event?: undefined | null; ecommerce: null; [k: string]: unknown; }
/** What `connectDataLayer` hooks: the page's GTM/gtag dataLayer (an array; entries of any shape). */
export type DataLayer = unknown[];
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
  | {
    source: 'event'; index: number; event: EventName; itemId?: string; title?: string; query?: string; effect: number;
    /** Set when the event is from an earlier visit (before the current one), with its time `at`. */
    earlierVisit?: true; at?: number;
  }
  | { source: 'context'; field: 'hour' | 'weekday' | 'device' | 'pageType' | 'category' | 'promotion' | 'query'; value: string; effect: number };
export interface Ranked {
  id: string; score: number; serverRank: number;
  /** With `explain: true`: the strongest raising reasons first, then the lowering ones (up to 3 each). */
  reasons?: Reason[];
}

/**
 * What `device: 'auto'` measured in the WebGPU build to choose the backend, or read back from
 * localStorage (`localrank.backend.v1:<name>@<version>`; the entry holds these fields but
 * `cached`: the decision, the timings and the date, nothing of the shopper's).
 */
export interface Calibration {
  backend: 'webgpu' | 'cpu';
  /** e.g. "CPU 0.70 ms a rerank of 100 candidates with 50 events, at most the 8 ms above which
   * WebGPU is loaded and timed" or "CPU 12.3 ms vs WebGPU 79.0 ms a rerank of ...". */
  reason: string;
  /** true: read from localStorage, nothing was measured by this create. */
  cached: boolean;
  /** When it was measured (ISO 8601). */
  at: string;
  /** Milliseconds of the bounded part (synthetic session and reranks, CPU and WebGPU). */
  ms: number | null;
  /** Median ms of a rerank of `candidates` synthetic candidates with `events` events. */
  cpuMs: number | null;
  /** null when WebGPU was not timed (a CPU rerank within `webgpuAboveMs`, or none finished in time). */
  webgpuMs: number | null;
  /** ms spent loading WebGPU and compiling its shaders for the calibration (outside the bound). */
  webgpuLoadMs: number | null;
  events: number | null;
  candidates: number | null;
}

/** How `device: 'auto'` calibrates (the WebGPU build); a page may change them before `create`. */
export const calibrationSettings: {
  /** The timed reranks, CPU and WebGPU together, stop within this (default 150 ms). */
  budgetMs: number;
  /** WebGPU is loaded and timed only when a CPU rerank takes longer (default 8 ms). */
  webgpuAboveMs: number;
  /** Synthetic candidates a calibration rerank scores (default 100). */
  candidates: number;
  /** A stored decision older than this is measured again (default 30 days). */
  maxAgeDays: number;
  /** Calibrate a fallback (software) adapter too (default false: 'auto' takes the CPU, which was
   * 20-166x faster than SwiftShader at every work size measured). */
  fallbackAdapters: boolean;
};

/** An on-device reranker. Every method settles: it resolves (or returns) or rejects (or throws)
 * an `Error` whose message says what was wrong and where; a failed call changes nothing. */
export class LocalRanker {
  private constructor();
  static create(options: CreateOptions): Promise<LocalRanker>;
  /** Deletes this origin's model cache (Cache API `localrank-models-v1`); resolves to whether
   * there was one, never rejects. The next `create` downloads the model again. */
  static clearModelCache(): Promise<boolean>;
  readonly backend: 'webgpu' | 'cpu';
  /** Why 'auto' runs on the CPU, if it does: "no WebGPU adapter", "built without WebGPU",
   * "calibration: ..." or "cached calibration of <date>: ...". */
  readonly fallbackReason: string | undefined;
  /** What 'auto' measured or read to choose; undefined when it did not calibrate. */
  readonly calibration: Calibration | undefined;
  readonly modelName: string;
  readonly modelVersion: string;
  readonly modelBytes: number;
  /** 'cache': no model byte was downloaded (options.cache); 'network': at least one file was;
   * 'bytes': the page passed the files in. */
  readonly modelSource: 'cache' | 'network' | 'bytes';
  readonly sessionLength: number;
  /** The sessionStorage key of this model's session. */
  readonly storageKey: string;
  /** The localStorage key of this model's remembered events (`remember`). */
  readonly historyKey: string;
  /** Records the event (GA4 items: one event each, all or none); records nothing for
   * `{ ecommerce: null }` and for `IgnoredGa4EventName`s. */
  observe(event: ShopperEvent | Ga4ClearPush): void;
  /**
   * Observes, locally, the e-commerce events (`EventName`s) the page pushes to `dataLayer`
   * (default `window.dataLayer`, created as `[]` when absent, as the gtag snippet does) or sends
   * with `gtag('event', name, params)` (`params.items`, `params.search_term`), and those already
   * in the array. The site's analytics are left as they were: the wrapped `push` calls the
   * original first with the same `this` and arguments and returns its result; each entry is
   * observed afterwards, in a microtask; an event that cannot be observed is a `console.warn`
   * (once per kind of problem), never an exception in the page. Returns `disconnect()`: it puts
   * the original `push` back (or, when something wrapped ours since, leaves ours in that chain
   * as a plain pass-through); `dispose()` disconnects too. Entries also passed to `observe` by
   * the page are recorded twice.
   */
  connectDataLayer(dataLayer?: DataLayer): () => void;
  rerank(candidates: Candidate[], context?: PageContext | null, options?: RerankOptions | null): Promise<Ranked[]>;
  setPersist(on: boolean): void;
  /** Keeps (true or bounds: this session's events and every later one) or stops keeping and
   * deletes (false) the remembered events. */
  setRemember(on: boolean | RememberOptions): void;
  /** The remembered events, oldest first (copies); [] when `remember` is off. */
  rememberedEvents(): RememberedEvent[];
  exportSession(): string;
  importSession(json: string): void;
  /** Forgets the session, the remembered events (`remember` stays on) and the candidates
   * remembered for id-only events. */
  clear(): void;
  dispose(): void;
}

/** Loads the wasm (by default from next to this file); `LocalRanker.create` calls it when needed. */
export default function init(moduleOrPath?: unknown): Promise<unknown>;
export function initSync(module: unknown): unknown;
