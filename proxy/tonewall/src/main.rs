//! The `tonewall` command: one binary for the proxy and its tools.

mod config;
mod mask;
mod metrics;
mod ng;
mod recording;
mod scan;
mod serve;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use tonewall_dsp::{MaskerConfig, Substitute};

/// Tonewall: a media proxy that keeps DTMF (card numbers) away from agents and recordings.
#[derive(Parser)]
#[command(name = "tonewall", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy: the media relay, its ng control listener and metrics. With no file it runs
    /// on embedded defaults (media on 127.0.0.1, ports 30000–39999, metrics on 127.0.0.1:9464).
    Serve {
        /// TOML configuration; `TONEWALL_*` environment variables override it.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Find DTMF in recordings: one JSON line per digit; exit 0 when none, 1 when any, 2 on error.
    Scan {
        /// WAV files (PCM16, µ-law or A-law, any rate) or raw 8 kHz .ulaw/.alaw files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Report anything tone-like, however short or faint (the auditor's strict setting).
        #[arg(long)]
        sensitive: bool,
    },
    /// Write a copy of a recording with every DTMF tone masked.
    Mask {
        /// The recording to read.
        input: PathBuf,
        /// Where to write the masked copy (same format).
        output: PathBuf,
        /// What replaces the tones.
        #[arg(long, value_enum, default_value_t = SubstituteArg::Tone)]
        substitute: SubstituteArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SubstituteArg {
    /// A flat 500 Hz tone.
    Tone,
    /// Digital silence.
    Silence,
    /// Low-level comfort noise.
    Noise,
}

impl From<SubstituteArg> for Substitute {
    fn from(s: SubstituteArg) -> Self {
        match s {
            SubstituteArg::Tone => Substitute::FlatTone,
            SubstituteArg::Silence => Substitute::Silence,
            SubstituteArg::Noise => Substitute::ComfortNoise,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => match serve::run(config.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tonewall serve: {e}");
                ExitCode::from(2)
            }
        },
        Command::Scan { files, sensitive } => ExitCode::from(scan::run(&files, sensitive) as u8),
        Command::Mask { input, output, substitute } => {
            let config = MaskerConfig { substitute: substitute.into(), ..MaskerConfig::default() };
            match mask::run(&input, &output, &config) {
                Ok(s) => {
                    eprintln!(
                        "tonewall mask: {} span(s), {} ms masked, written to {}",
                        s.spans,
                        s.masked_ms,
                        output.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tonewall mask: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
