//! The `tonewall` command: one binary for the proxy and its tools.

mod config;
mod mask;
mod metrics;
mod ng;
mod recording;
mod recording_cmd;
mod scan;
mod serve;
mod sip;

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
    /// on embedded defaults (media on 127.0.0.1, ports 20000–59999, metrics on 127.0.0.1:9464).
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
    /// Encrypted call recordings: make a key; verify and decrypt a recording to WAV.
    Recording {
        #[command(subcommand)]
        command: RecordingCommand,
    },
}

#[derive(Subcommand)]
enum RecordingCommand {
    /// Verify and decrypt a recording into a 2-channel 8 kHz PCM WAV (left: caller to agent,
    /// right: agent to caller). Exit 0 when written, 2 on any error (nothing is written then).
    Decrypt {
        /// The encrypted recording.
        input: PathBuf,
        /// Where to write the WAV (created with mode 0600: it is the call's audio in the clear).
        output: PathBuf,
        /// A key file (one line: 64 hex digits or base64). Repeat it to give keys rotated out;
        /// the recording's header says which one it needs.
        #[arg(long = "key-file", value_name = "KEYFILE", required = true)]
        key_files: Vec<PathBuf>,
        /// Decrypt what a cut recording holds (the proxy stopped before finishing it) instead of
        /// refusing it; a warning says where it was cut.
        #[arg(long)]
        allow_incomplete: bool,
    },
    /// Make a new random recording key in KEYFILE (mode 0600, never overwriting a file) and print
    /// its id.
    Keygen {
        /// The key file to create.
        key_file: PathBuf,
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

/// mimalloc rather than glibc's malloc: the SIP core parses and builds messages with many
/// short-lived allocations, on one thread, while other threads allocate now and then; glibc
/// spent about 12 % of that thread's time in malloc and free (perf, 350 calls/s).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        Command::Recording { command } => recording(command),
    }
}

fn recording(command: RecordingCommand) -> ExitCode {
    match command {
        RecordingCommand::Decrypt { input, output, key_files, allow_incomplete } => {
            match recording_cmd::decrypt(&input, &output, &key_files, allow_incomplete) {
                Ok(s) => {
                    eprintln!("tonewall recording decrypt: {}", s.describe(&input, &output));
                    if let Some(warning) = s.warning(&input) {
                        eprintln!("tonewall recording decrypt: warning: {warning}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("tonewall recording decrypt: {e}");
                    ExitCode::from(2)
                }
            }
        }
        RecordingCommand::Keygen { key_file } => match recording_cmd::keygen(&key_file) {
            Ok(id) => {
                println!("{id}");
                eprintln!(
                    "tonewall recording keygen: new key {id} in {} (keep a copy: recordings made with it cannot be read without it)",
                    key_file.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tonewall recording keygen: {e}");
                ExitCode::from(2)
            }
        },
    }
}
