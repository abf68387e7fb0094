//! Links spandsp (the peer DTMF receiver the benches compare against) and measures the size of
//! its `dtmf_rx_state_t`, so the benches can report bytes of state per stream for both. Links
//! libsrtp 2 (the peer of the SRTP bench) and measures `sizeof(srtp_policy_t)`, which the
//! binding checks its struct against.
//!
//! Uses the `pkg-config` program when present, else the usual library directories. No new crates:
//! adding a build-dependency would touch the workspace lock file for one command line.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const HOW_TO_INSTALL_SRTP: &str = "tonewall-bench compares Tonewall's SRTP with libsrtp 2 and needs its \
     headers and library. On Debian/Ubuntu: `apt-get install libsrtp2-dev`.";

const HOW_TO_INSTALL: &str = "tonewall-bench compares Tonewall with spandsp's DTMF receiver and needs \
     libspandsp (headers and library). On Debian/Ubuntu: `apt-get install libspandsp-dev`.";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=SPANDSP_LIB_DIR");

    let mut cflags: Vec<String> = Vec::new();
    if pkg_config(&["--exists", "spandsp"]).is_some() {
        let libs = pkg_config(&["--libs", "spandsp"]).unwrap_or_default();
        for tok in libs.split_whitespace() {
            if let Some(dir) = tok.strip_prefix("-L") {
                println!("cargo:rustc-link-search=native={dir}");
            } else if let Some(lib) = tok.strip_prefix("-l") {
                println!("cargo:rustc-link-lib={lib}");
            }
        }
        cflags = pkg_config(&["--cflags", "spandsp"])
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
    } else {
        // No pkg-config (or no spandsp.pc): look for the library where distributions put it.
        let mut dirs: Vec<PathBuf> =
            env::var_os("SPANDSP_LIB_DIR").map(|d| vec![PathBuf::from(d)]).unwrap_or_default();
        dirs.extend(
            [
                "/usr/lib/x86_64-linux-gnu",
                "/usr/lib/aarch64-linux-gnu",
                "/usr/lib64",
                "/usr/lib",
                "/usr/local/lib",
            ]
            .iter()
            .map(PathBuf::from),
        );
        let found = dirs.iter().find(|d| {
            d.join("libspandsp.so").exists()
                || d.join("libspandsp.a").exists()
                || d.join("libspandsp.dylib").exists()
        });
        match found {
            Some(dir) => {
                println!("cargo:rustc-link-search=native={}", dir.display());
                println!("cargo:rustc-link-lib=spandsp");
            }
            None => panic!("spandsp not found (no pkg-config entry, no libspandsp.so). {HOW_TO_INSTALL}"),
        }
    }

    // sizeof(dtmf_rx_state_t) from a two-line C program; "unknown" if there is no C compiler or
    // the private headers are missing. Only a report, never needed for correctness: the FFI only
    // ever holds a pointer that spandsp allocated itself.
    let size = state_size(&cflags).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SPANDSP_DTMF_RX_STATE_SIZE={size}");

    link_libsrtp();
}

/// Links libsrtp2 and measures `sizeof(srtp_policy_t)` ("unknown" without a C compiler).
fn link_libsrtp() {
    let mut cflags: Vec<String> = Vec::new();
    if pkg_config(&["--exists", "libsrtp2"]).is_some() {
        for tok in pkg_config(&["--libs", "libsrtp2"]).unwrap_or_default().split_whitespace() {
            if let Some(dir) = tok.strip_prefix("-L") {
                println!("cargo:rustc-link-search=native={dir}");
            } else if let Some(lib) = tok.strip_prefix("-l") {
                println!("cargo:rustc-link-lib={lib}");
            }
        }
        cflags = pkg_config(&["--cflags", "libsrtp2"])
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
    } else {
        let dirs = [
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64",
            "/usr/lib",
            "/usr/local/lib",
        ];
        match dirs
            .iter()
            .find(|d| Path::new(d).join("libsrtp2.so").exists() || Path::new(d).join("libsrtp2.a").exists())
        {
            Some(dir) => {
                println!("cargo:rustc-link-search=native={dir}");
                println!("cargo:rustc-link-lib=srtp2");
            }
            None => panic!("libsrtp2 not found (no pkg-config entry, no libsrtp2.so). {HOW_TO_INSTALL_SRTP}"),
        }
    }
    let size = c_sizeof(&cflags, "srtp_policy", "#include <srtp2/srtp.h>", "srtp_policy_t")
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=LIBSRTP_POLICY_SIZE={size}");
}

/// `sizeof(ty)` from a one-line C program including `include`; `None` without a C compiler.
fn c_sizeof(cflags: &[String], name: &str, include: &str, ty: &str) -> Option<String> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR")?);
    let src = out_dir.join(format!("{name}_size.c"));
    let exe = out_dir.join(format!("{name}_size"));
    std::fs::write(
        &src,
        format!(
            "#include <stdio.h>\n{include}\nint main(void) {{ printf(\"%zu\", sizeof({ty})); return 0; }}\n"
        ),
    )
    .ok()?;
    let cc = env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let ok = Command::new(cc).args(cflags).arg(&src).arg("-o").arg(&exe).output().ok()?.status.success();
    if !ok {
        return None;
    }
    run(&exe)
}

/// Runs `pkg-config ARGS`; `None` if the program is missing or says no.
fn pkg_config(args: &[&str]) -> Option<String> {
    let out = Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_owned()))
        .args(args)
        .output()
        .ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn state_size(cflags: &[String]) -> Option<String> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR")?);
    let src = out_dir.join("spandsp_size.c");
    let exe = out_dir.join("spandsp_size");
    std::fs::write(
        &src,
        "#include <stdio.h>\n\
         #define SPANDSP_EXPOSE_INTERNAL_STRUCTURES\n\
         #include <spandsp.h>\n\
         int main(void) { printf(\"%zu\", sizeof(dtmf_rx_state_t)); return 0; }\n",
    )
    .ok()?;
    let cc = env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let ok = Command::new(cc).args(cflags).arg(&src).arg("-o").arg(&exe).output().ok()?.status.success();
    if !ok {
        return None;
    }
    run(&exe)
}

fn run(exe: &Path) -> Option<String> {
    let out = Command::new(exe).output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && s.parse::<usize>().is_ok()).then_some(s)
}
