//! The `camoe` command line: clap parses each subcommand's flags (`cmd`), then runs it.

mod cmd;

use clap::{Parser, Subcommand};

/// The training side of camoe: simulate ad logs, train and evaluate CAMoE and its
/// baselines, export NNEF, and convert NNEF to a verified `.camoe` file.
#[derive(Parser)]
#[command(name = "camoe", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write simulated ad logs as train/valid/test CSV splits.
    Simulate(cmd::SimulateArgs),
    /// Train one model variant; writes PREFIX.safetensors and PREFIX.config.json.
    Train(cmd::TrainArgs),
    /// Evaluate a trained model on a split (calibrated metrics per format).
    Eval(cmd::EvalArgs),
    /// Export a trained model as PREFIX2.nnef.tgz + PREFIX2.config.json, checked with tract.
    Export(cmd::ExportArgs),
    /// Train and test several variants on the same data.
    Ablate(cmd::AblateArgs),
    /// Open Bandit Dataset CSVs to camoe CSV splits and a config.
    Obd(cmd::ObdArgs),
    /// NNEF to a `.camoe` file, written only within the parity budget against tract.
    Convert(cmd::ConvertArgs),
    /// Make an Ed25519 signing key (KEY, kept secret) and its public key (KEY.pub).
    Keygen(cmd::KeygenArgs),
    /// Sign a `.camoe` file: a detached 64-byte Ed25519 signature apps verify at load.
    Sign(cmd::SignArgs),
}

fn main() {
    // One thread unless asked: the machine is shared, and two were no faster.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    // Bad flags exit 2 (clap's message); a failed command exits 1 with one `error:` line.
    let r = match Cli::parse().command {
        Command::Simulate(a) => cmd::simulate(&a),
        Command::Train(a) => cmd::train(&a),
        Command::Eval(a) => cmd::eval(&a),
        Command::Export(a) => cmd::export(&a),
        Command::Ablate(a) => cmd::ablate(&a),
        Command::Obd(a) => cmd::obd(&a),
        Command::Convert(a) => cmd::convert(&a),
        Command::Keygen(a) => cmd::keygen(&a),
        Command::Sign(a) => cmd::sign(&a),
    };
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
