//! The `milliwatt` command line: arguments → validated configuration → library call → report.
use anyhow::Result;
use clap::{Parser, Subcommand};
use milliwatt::{eval, export, inspect, quantize, run, size::parse_bytes};
use mw_ir::Limits;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "milliwatt",
    version,
    about = "Shrink neural networks to a milliwatt budget and prove what it costs"
)]
struct Cli {
    /// Largest tensor a model or input may declare (e.g. 512MiB, 2GiB).
    #[arg(long, global = true, default_value = "1GiB", value_parser = parse_bytes)]
    memory_cap: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Per-layer table: op, shapes, parameters, MACs, weight bytes; totals.
    Inspect {
        model: PathBuf,
        /// Print JSON (an object with `layers` and `totals`).
        #[arg(long)]
        json: bool,
        /// Lower the QDQ graph to integer ops and list every op that still computes in float
        /// between the input quantization and the output dequantization (exit status 1 if any).
        #[arg(long)]
        integer_only: bool,
    },
    /// Run a model on .npy inputs.
    Run {
        model: PathBuf,
        /// One .npy per model input, in the model's input order.
        #[arg(long = "input", required = true)]
        inputs: Vec<PathBuf>,
        /// Where to write the first output as .npy (written atomically).
        #[arg(long)]
        output: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Top-1 accuracy, per-class accuracy and confusion matrix on a dataset.
    Eval {
        model: PathBuf,
        /// `speech-commands:DIR` or `fashion-mnist:DIR`.
        #[arg(long)]
        dataset: String,
        /// Split: all, calibration or eval. Speech Commands: speaker-disjoint parts of its test
        /// set. Fashion-MNIST: eval and all are the 10,000-image test set, calibration the first
        /// 1,000 training images.
        #[arg(long, default_value = "all")]
        split: String,
        /// Clips per inference batch.
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Print one JSON object (`top1`, `correct`, `total`, `split`, ...).
        #[arg(long)]
        json: bool,
        /// Also write the JSON report to this file (atomically).
        #[arg(long)]
        report: Option<PathBuf>,
        /// `integer` (lower QDQ to integer ops; the default for quantized models) or `float`
        /// (run the graph as is: fake quantization for a QDQ model).
        #[arg(long)]
        engine: Option<String>,
    },
    /// Energy per inference, latency and power of a model on a hardware profile.
    Energy {
        model: PathBuf,
        /// Built-in profile name (horowitz-45nm, ndp120, cortex-m4, cortex-m4-tflm-ref,
        /// cortex-m4-cmsis, phone-soc) or a TOML file.
        #[arg(long)]
        hw: String,
        /// Inference rate for the average power (`10/s`, `600/min`).
        #[arg(long)]
        rate: Option<String>,
        /// Power budget (`10mW`, `1.5W`); needs --rate.
        #[arg(long)]
        budget: Option<String>,
        /// Eval report (`milliwatt eval --report`) for accuracy per mJ.
        #[arg(long)]
        accuracy_from: Option<PathBuf>,
        /// Print one JSON object (the energy report plus accuracy fields).
        #[arg(long)]
        json: bool,
    },
    /// One self-contained HTML page comparing model variants on hardware profiles.
    Report {
        #[arg(required = true)]
        models: Vec<PathBuf>,
        /// Profile name or TOML file; repeat for several.
        #[arg(long = "hw", required = true)]
        hws: Vec<String>,
        /// Eval reports, one per model in model order (or matched by model file name).
        #[arg(long = "eval")]
        evals: Vec<PathBuf>,
        /// Mixed-precision search report (`quantize --scheme mixed --report FILE`); repeat for
        /// several. The page plots its explored fronts (KL and held-out top-1 versus weight
        /// bytes and µJ per inference, budget and chosen point marked) and lists the chosen
        /// format per layer. One of MODELS must have the search's layers; give the model the
        /// search wrote to get per-layer bytes and µJ.
        #[arg(long = "search")]
        searches: Vec<PathBuf>,
        #[arg(long)]
        rate: Option<String>,
        #[arg(long)]
        budget: Option<String>,
        /// Output HTML file (written atomically); PNGs of its plots go to `<stem>_files/` beside it.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Post-training quantization (W8A8, W4A8, W4A16, W2A8, W1A16...) into a QDQ ONNX model,
    /// with a per-layer report.
    Quantize(Box<QuantizeArgs>),
    /// Write a quantized model in another ONNX form: `qoperator` (QLinearConv, QLinearMatMul,
    /// QuantizeLinear, DequantizeLinear; standard ops only) or `qdq`.
    Export {
        model: PathBuf,
        /// `qoperator` or `qdq`.
        #[arg(long, default_value = "qoperator")]
        format: String,
        /// Output ONNX file (written atomically).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct QuantizeArgs {
    model: PathBuf,
    /// Calibration data: `speech-commands:DIR` or `fashion-mnist:DIR`.
    #[arg(long)]
    calib: String,
    /// Split to calibrate on: calibration (Speech Commands: speakers disjoint from eval;
    /// Fashion-MNIST: the first 1,000 training images). eval and all are refused.
    #[arg(long, default_value = "calibration")]
    calib_split: String,
    /// Quantization scheme w<weight bits>a<activation bits>: w8a8, w8a16, w4a8, w4a16, w2a8,
    /// w2a16, w1a8, w1a16 (4-bit weights int4 [-7, 7]; 2-bit ternary; 1-bit binary sign x mean|w|);
    /// or mixed: per-layer formats from {8,4,2,1}-bit weights x {8,16}-bit activations chosen
    /// within --weight-budget or --energy-budget.
    #[arg(long, default_value = "w8a8")]
    scheme: String,
    /// mixed: total weight bytes as the energy model stores them (12KiB, 13000B).
    #[arg(long)]
    weight_budget: Option<String>,
    /// mixed: energy per inference on --hw (0.4uJ, 400nJ).
    #[arg(long)]
    energy_budget: Option<String>,
    /// mixed: hardware profile (built-in name or TOML file) for the energy of every point.
    #[arg(long, default_value = "horowitz-45nm")]
    hw: String,
    /// mixed: every N-th calibration example is held out for the accuracy proxy.
    #[arg(long, default_value_t = 4)]
    holdout_every: usize,
    /// Group-wise weight scales: one per output channel and per group of N input channels
    /// (blocked DequantizeLinear, opset 21). Group-wise layers run on the float path of the
    /// integer engine.
    #[arg(long)]
    group_size: Option<usize>,
    /// Weight rounding onto the scheme's grid (same scales): nearest; gptq (second-order,
    /// spreads each weight's rounding error over the layer's other weights using the layer's
    /// input statistics XᵀX on the calibration split); adaround (learned up/down rounding on the
    /// same statistics, 10k steps per layer, slower; not for binary weights). Default: nearest
    /// for 8-bit weights, gptq below 8 bits.
    #[arg(long)]
    rounding: Option<String>,
    /// Cross-layer equalization of the float model (after BatchNorm folding, before
    /// calibration): rescales consecutive Conv/Gemm channels through ReLU so that their weight
    /// ranges match, which helps per-tensor and depthwise layers.
    #[arg(long)]
    equalize: bool,
    /// Empirical bias correction: each layer's float bias gets −(Ŵ − W)·E[x] (input mean over
    /// the calibration split) before the bias is quantized, cancelling the mean output shift of
    /// weight rounding.
    #[arg(long)]
    bias_correction: bool,
    /// Activation range method: minmax, percentile, entropy, mse or auto.
    #[arg(long, default_value = "minmax")]
    calibration: String,
    /// Percent of values kept by `percentile` (and tried by `auto`).
    #[arg(long, default_value_t = 99.99)]
    percentile: f64,
    /// One weight scale per tensor instead of per output channel.
    #[arg(long)]
    per_tensor: bool,
    /// Activation integer type for 8-bit activations: int8 (default) or uint8; 16-bit
    /// activations are int16.
    #[arg(long)]
    activations: Option<String>,
    /// Node names whose layers stay in float (comma-separated).
    #[arg(long, value_delimiter = ',')]
    keep_float: Vec<String>,
    /// Keep the first weighted layer in float.
    #[arg(long)]
    keep_first: bool,
    /// Keep the last weighted layer in float.
    #[arg(long)]
    keep_last: bool,
    /// When an int32 accumulator cannot be proven safe: keep-float or refuse.
    #[arg(long, default_value = "keep-float")]
    overflow: String,
    /// Skip the per-layer SQNR and sensitivity measurements.
    #[arg(long)]
    no_measure: bool,
    /// Examples per calibration batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Where to write the QDQ model (atomically).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// Also write the JSON report to this file (atomically).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Print the JSON report instead of the table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let limits = Limits {
        max_tensor_bytes: cli.memory_cap,
    };
    match cli.command {
        Command::Inspect {
            model,
            json,
            integer_only: true,
        } => {
            let report = inspect::integer_only_file(&model, &limits)?;
            if json {
                emit(&serde_json::to_string_pretty(&report)?);
            } else {
                emit(&report.text());
            }
            if !report.integer_only {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Inspect { model, json, .. } => {
            let report = inspect::inspect_file(&model, &limits)?;
            if json {
                emit(&serde_json::to_string_pretty(&report)?);
            } else {
                emit(&report.table());
            }
        }
        Command::Run {
            model,
            inputs,
            output,
            json,
        } => {
            let summary = run::run_file(&model, &inputs, output.as_deref(), &limits)?;
            if json {
                emit(&serde_json::to_string_pretty(&summary)?);
            } else {
                emit(&summary.text());
            }
        }
        Command::Eval {
            model,
            dataset,
            split,
            batch,
            json,
            report,
            engine,
        } => {
            let engine = match engine {
                Some(e) => e.parse()?,
                None => eval::Engine::Auto,
            };
            let options = eval::EvalOptions {
                dataset: dataset.parse()?,
                split: split.parse()?,
                batch: batch.max(1),
                progress: true,
            };
            let result = eval::eval_file_with(&model, &options, engine, &limits)?;
            if let Some(path) = report {
                milliwatt::output::write_atomic(
                    &path,
                    serde_json::to_string_pretty(&result)?.as_bytes(),
                )?;
            }
            if json {
                emit(&serde_json::to_string_pretty(&result)?);
            } else {
                emit(&result.text());
            }
        }
        Command::Quantize(args) => run_quantize(*args, &limits)?,
        Command::Export {
            model,
            format,
            output,
            json,
        } => {
            let format = export::ExportFormat::parse(&format)?;
            let report = export::export_file(&model, format, &output, &limits)?;
            if json {
                emit(&serde_json::to_string_pretty(&report)?);
            } else {
                emit(&report.text());
            }
        }
        Command::Energy {
            model,
            hw,
            rate,
            budget,
            accuracy_from,
            json,
        } => {
            let options = milliwatt::energy::options(rate.as_deref(), budget.as_deref())?;
            let out = milliwatt::energy::energy_file(
                &model,
                &hw,
                &options,
                accuracy_from.as_deref(),
                &limits,
            )?;
            if json {
                emit(&serde_json::to_string_pretty(&out)?);
            } else {
                emit(&out.text());
            }
        }
        Command::Report {
            models,
            hws,
            evals,
            searches,
            rate,
            budget,
            output,
        } => {
            let options = milliwatt::energy::options(rate.as_deref(), budget.as_deref())?;
            let written = milliwatt::report::report_files(
                &models, &hws, &evals, &searches, &options, &output, &limits,
            )?;
            let mut lines = format!("wrote {}", written.html.display());
            for png in &written.pngs {
                lines.push_str(&format!("\nwrote {}", png.display()));
            }
            emit(&lines);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_quantize(a: QuantizeArgs, limits: &Limits) -> Result<()> {
    let mixed = a.scheme == "mixed";
    if !mixed && (a.weight_budget.is_some() || a.energy_budget.is_some()) {
        anyhow::bail!("--weight-budget and --energy-budget need --scheme mixed");
    }
    let scheme = quantize::parse_scheme(if mixed { "w8a8" } else { &a.scheme })?;
    // Mixed precision lowers layers below 8 bits: they get the sub-8-bit default (GPTQ).
    let rounding = match (mixed, a.rounding.as_deref()) {
        (true, None) => mw_compress::quantize::WeightRounding::Gptq,
        (_, r) => quantize::parse_rounding(r, scheme)?,
    };
    let config = mw_compress::quantize::QuantizeConfig {
        ranges: quantize::parse_calibration(&a.calibration, a.percentile)?,
        activations: quantize::scheme_activations(scheme, a.activations.as_deref())?,
        weights: scheme.weights,
        group_size: quantize::parse_group_size(a.group_size)?,
        per_channel: !a.per_tensor,
        keep_float: a.keep_float.clone(),
        keep_first: a.keep_first,
        keep_last: a.keep_last,
        overflow: quantize::parse_overflow(&a.overflow)?,
        measure: !a.no_measure,
        rounding,
        equalize: a.equalize,
        bias_correction: a.bias_correction,
        ..Default::default()
    };
    let options = quantize::QuantizeOptions {
        calib: a.calib.parse()?,
        split: a.calib_split.parse()?,
        batch: a.batch.max(1),
        config,
    };
    if mixed {
        return run_mixed(&a, &options, limits);
    }
    let report = quantize::quantize_file(&a.model, &a.output, &options, limits)?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = a.report {
        milliwatt::output::write_atomic(&path, json.as_bytes())?;
    }
    if a.json {
        emit(&json);
    } else {
        emit(&report.table());
    }
    Ok(())
}

/// `quantize --scheme mixed`: the report is written (and printed) even when no configuration
/// fits the budget; then the command fails without writing a model.
fn run_mixed(a: &QuantizeArgs, options: &quantize::QuantizeOptions, limits: &Limits) -> Result<()> {
    let mixed_options = quantize::MixedOptions {
        budget: quantize::parse_budget(a.weight_budget.as_deref(), a.energy_budget.as_deref())?,
        hw: a.hw.clone(),
        holdout_every: a.holdout_every,
    };
    let (report, written) =
        quantize::mixed_file(&a.model, &a.output, options, &mixed_options, limits)?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &a.report {
        milliwatt::output::write_atomic(path, json.as_bytes())?;
    }
    if a.json {
        emit(&json);
    } else {
        emit(&quantize::mixed_table(&report));
    }
    if !written {
        anyhow::bail!(
            "no mixed-precision configuration fits {}; lowest reachable {}; no model written",
            quantize::budget_text(report.budget),
            report.lowest_reachable
        );
    }
    Ok(())
}

/// Writes a report to stdout; a closed pipe (`milliwatt ... | head`) ends the program quietly.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let result = out
        .write_all(text.as_bytes())
        .and_then(|_| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|_| out.flush());
    if let Err(e) = result {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: writing to stdout: {e}");
            std::process::exit(1);
        }
    }
}
